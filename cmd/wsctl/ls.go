package main

import (
	"github.com/spf13/cobra"
)

func newLs(g *globals) *cobra.Command {
	var (
		selector string
		watch    bool
	)
	cmd := &cobra.Command{
		Use:   "ls [-l SELECTOR] [-w]",
		Short: "List live connections",
		Long:  "List live connections, oldest first. -l filters with a selector (room=lobby,user!=bot,route=/chat);\n-w keeps watching and prints connects and closes as they happen.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := g.call(cmd.Context())
			conns, err := c.AllConnections(ctx, selector)
			cancel()
			if err != nil {
				return err
			}
			p := g.printer()
			if err := p.connections(conns); err != nil {
				return err
			}
			if !watch {
				return nil
			}
			return watchEvents(cmd.Context(), c, p, selector, 0)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only connections matching this selector")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after the list, print connects and closes as they happen")
	return cmd
}
