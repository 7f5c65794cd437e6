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
		Long:  "Show one live connection in full. ID is the whole id or a unique prefix of it (at least 4 characters).",
		Args:  exactArgs(1, "a connection id"),

		ValidArgsFunction: completeConnIDs(g, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := resolveConn(ctx, c, args[0])
				if err != nil {
					return err
				}
				conn, err := c.Connection(ctx, id)
				if err != nil {
					return withID(err, id)
				}
				return g.printer().connection(conn)
			})
		},
	}
}
