package main

import (
	"github.com/spf13/cobra"
)

func newInspect(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID",
		Short: "Show one live connection in full",
		Args:  exactArgs(1, "a connection id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.call(cmd.Context())
			defer cancel()
			conn, err := c.Connection(ctx, args[0])
			if err != nil {
				return withID(err, args[0])
			}
			return g.printer().connection(conn)
		},
	}
}
