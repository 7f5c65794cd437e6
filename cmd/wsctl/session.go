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
		Long:  "Show one session from history. ID is the whole id, or a unique prefix of it (at least 4\ncharacters) among the newest 10000 sessions.",
		Args:  exactArgs(1, "a session (connection) id"),

		ValidArgsFunction: completeSessionIDs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := resolveSession(ctx, c, args[0])
				if err != nil {
					return err
				}
				s, err := c.Session(ctx, id)
				if err != nil {
					return withID(err, id)
				}
				return g.printer().session(s)
			})
		},
	}
}
