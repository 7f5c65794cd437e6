package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newAudit(g *globals) *cobra.Command {
	var q client.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit [--since 24h] [--limit N]",
		Short: "Who did what through the admin API, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.Audit(ctx, q)
				if err != nil {
					return err
				}
				if err := g.printer().audit(l); err != nil {
					return err
				}
				if err := g.partial(l.Fleet); err != nil {
					return err
				}
				if l.Next != "" && !g.quiet && g.output != "json" {
					fmt.Fprintf(g.stderr, "more entries: add --before %s\n", l.Next)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Since, "since", "24h", "entries since (RFC 3339, or a duration before now)")
	f.StringVar(&q.Until, "until", "", "entries before (RFC 3339, or a duration before now)")
	f.IntVar(&q.Limit, "limit", 50, "entries per page (at most 1000)")
	f.StringVar(&q.Before, "before", "", "cursor of the next page")
	return cmd
}
