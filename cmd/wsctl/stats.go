package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newStats(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Live counts, totals since start, rates and the state of session history",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				s, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				return errors.Join(g.printer().stats(s), g.partial(s.Fleet))
			})
		},
	}
}
