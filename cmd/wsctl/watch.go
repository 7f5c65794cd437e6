package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/session"
)

func newWatch(g *globals) *cobra.Command {
	var (
		selector string
		count    int
	)
	cmd := &cobra.Command{
		Use:   "watch [-l SELECTOR] [--count N]",
		Short: "Print connects and closes as they happen",
		Long:  "Print connects and closes as they happen, one line each (-o json: one JSON object each),\nuntil interrupted, until --count events, or until wsd shuts down. Times are RFC 3339 in the\nlocal zone, to the millisecond.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return watchEvents(cmd.Context(), c, g.printer(), selector, count)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only events of connections matching this selector")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: never)")
	return cmd
}

var errEnough = errors.New("enough events")

// watchEvents prints events until ctx is done, count events (if > 0), or
// the server ends the stream. Interrupting it is a normal end.
func watchEvents(ctx context.Context, c *client.Client, p *printer, selector string, count int) error {
	match, err := parseSelector(selector)
	if err != nil {
		return err
	}
	n := 0
	err = c.Watch(ctx, nil, func(ev apitype.Event) error {
		if ev.Connection != nil && !match(ev.Connection) {
			return nil
		}
		if err := p.event(ev); err != nil {
			return err
		}
		n++
		if count > 0 && n >= count {
			return errEnough
		}
		return nil
	})
	switch {
	case errors.Is(err, errEnough), errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil
	case errors.Is(err, client.ErrStreamEnded):
		if !p.json() && !p.quiet {
			return p.line("%s", "wsd is shutting down; the event stream ended")
		}
		return nil
	}
	return err
}

// parseSelector returns a matcher of connections for a selector in the
// daemon's grammar (package session, standard library only: wsctl links no
// server). The event stream is not filtered by the server, so wsctl
// matches here.
func parseSelector(s string) (func(*apitype.Connection) bool, error) {
	sel, err := session.ParseSelector(s)
	if err != nil {
		return nil, usageError{err}
	}
	return func(c *apitype.Connection) bool {
		return sel.Match(session.Conn{ID: c.ID, User: c.User, Route: c.Route, RemoteAddr: c.RemoteAddr, Labels: c.Labels})
	}, nil
}
