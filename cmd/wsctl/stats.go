package main

import (
	"github.com/spf13/cobra"
)

func newStats(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Live counts, totals since start, rates and the state of session history",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.call(cmd.Context())
			defer cancel()
			s, err := c.Stats(ctx)
			if err != nil {
				return err
			}
			return g.printer().stats(s)
		},
	}
}
