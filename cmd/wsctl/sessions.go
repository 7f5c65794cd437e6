package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newSessions(g *globals) *cobra.Command {
	var q client.SessionsQuery
	cmd := &cobra.Command{
		Use:   "sessions [--since 1h] [--until T] [--user U] [--route R] [--code N] [--closed-by X] [--limit N]",
		Short: "Query session history, newest first",
		Long:  "Query the history of sessions (live and closed), newest first. --since and --until take\nan RFC 3339 time or a duration before now (90s, 1h, 7d). --closed-by is one of client, server,\nadmin, idle_timeout, slow_consumer, protocol_error, shutdown, token_expired, drain, crash.\nWhen more sessions match than --limit, the cursor of the next page is printed on stderr.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.Sessions(ctx, q)
				if err != nil {
					return err
				}
				if err := g.printer().sessions(l); err != nil {
					return err
				}
				if l.Next != "" && !g.quiet && g.output != "json" {
					fmt.Fprintf(g.stderr, "more sessions: add --before %s\n", l.Next)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Since, "since", "", "sessions connected since (RFC 3339, or a duration before now: 1h)")
	f.StringVar(&q.Until, "until", "", "sessions connected before (RFC 3339, or a duration before now)")
	f.StringVar(&q.User, "user", "", "only this user")
	f.StringVar(&q.Route, "route", "", "only this route")
	f.IntVar(&q.CloseCode, "code", 0, "only sessions closed with this code")
	f.StringVar(&q.ClosedBy, "closed-by", "", "only sessions closed by this cause")
	f.IntVar(&q.Limit, "limit", 50, "sessions per page (at most 1000)")
	if err := cmd.RegisterFlagCompletionFunc("closed-by", completeClosedBy); err != nil {
		panic(err) // the flag is defined just above
	}
	f.StringVar(&q.Before, "before", "", "cursor of the next page")
	return cmd
}
