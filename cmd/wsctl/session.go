package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newSession(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "session ID",
		Short: "Show one session from history",
		Args:  exactArgs(1, "a session (connection) id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				s, err := c.Session(ctx, args[0])
				if err != nil {
					return withID(err, args[0])
				}
				return g.printer().session(s)
			})
		},
	}
}
