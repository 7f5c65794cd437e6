package main

import (
	"github.com/spf13/cobra"
)

func newSession(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "session ID",
		Short: "Show one session from history",
		Args:  exactArgs(1, "a session (connection) id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.call(cmd.Context())
			defer cancel()
			s, err := c.Session(ctx, args[0])
			if err != nil {
				return withID(err, args[0])
			}
			return g.printer().session(s)
		},
	}
}
