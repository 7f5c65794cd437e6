package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print wsctl's version (and wsd's, if it answers)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(g.stdout, "wsctl", version())
			if g.server == "" && g.getenv("WSCTL_SERVER") == "" {
				return nil
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				s, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, "wsd", s.Version)
				return nil
			})
		},
	}
}
