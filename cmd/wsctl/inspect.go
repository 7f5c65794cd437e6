package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newInspect(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID",
		Short: "Show one live connection in full",
		Args:  exactArgs(1, "a connection id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				conn, err := c.Connection(ctx, args[0])
				if err != nil {
					return withID(err, args[0])
				}
				return g.printer().connection(conn)
			})
		},
	}
}
