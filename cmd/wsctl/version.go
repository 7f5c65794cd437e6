package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print wsctl's version (and wsd's, if it answers)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(g.stdout, "wsctl", version)
			if g.server == "" && g.getenv("WSCTL_SERVER") == "" {
				return nil
			}
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
			fmt.Fprintln(g.stdout, "wsd", s.Version)
			return nil
		},
	}
}
