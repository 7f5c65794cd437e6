package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

// exportPage is the page size of -o csv and -o ndjson unless --limit is
// given.
const exportPage = 1000

func newSessions(g *globals) *cobra.Command {
	var (
		q          client.SessionsQuery
		timestamps bool
	)
	cmd := &cobra.Command{
		Use:   "sessions [--since 1h] [--until T] [--user U] [--route R] [--remote IP] [-l SELECTOR] [--code N] [--closed-by X] [--limit N]",
		Short: "Query session history, newest first",
		Long: `Query the history of sessions (live and closed), newest first. --since and --until take
an RFC 3339 time or a duration before now (90s, 1h, 7d). --closed-by is one of client, server,
admin, idle_timeout, slow_consumer, protocol_error, shutdown, token_expired, drain, policy, crash.
--remote keeps the sessions of one client IP, -l those whose labels match a selector.
When more sessions match than --limit, the cursor of the next page is printed on stderr.

-o wide and --timestamps show absolute times (RFC 3339, local zone) instead of "3m ago".
-o csv and -o ndjson export every matching session: they follow the pages to the end
(--limit sets the page size, default 1000), with a progress count on stderr on a terminal.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output == "csv" || g.output == "ndjson" {
				c, err := g.client()
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("limit") {
					q.Limit = exportPage
				}
				return exportSessions(cmd.Context(), g, c, q)
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.Sessions(ctx, q)
				if err != nil {
					return filterErr(err)
				}
				p := g.printer()
				p.absolute = timestamps || p.wide()
				if err := errors.Join(p.sessions(l), g.partial(l.Fleet)); err != nil {
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
	f.StringVar(&q.Remote, "remote", "", "only sessions from this client IP")
	f.StringVarP(&q.Selector, "selector", "l", "", "only sessions whose labels match this selector")
	f.IntVar(&q.CloseCode, "code", 0, "only sessions closed with this code")
	f.StringVar(&q.ClosedBy, "closed-by", "", "only sessions closed by this cause")
	f.IntVar(&q.Limit, "limit", 50, "sessions per page (at most 1000)")
	f.StringVar(&q.Before, "before", "", "cursor of the next page")
	f.BoolVar(&timestamps, "timestamps", false, "show absolute times (RFC 3339) instead of how long ago")
	if err := cmd.RegisterFlagCompletionFunc("closed-by", completeClosedBy); err != nil {
		panic(err) // the flag is defined just above
	}
	return cmd
}

// filterErr explains the 400 of a wsd that predates --remote and -l.
func filterErr(err error) error {
	var e *client.Error
	if client.IsBadRequest(err) && errors.As(err, &e) {
		for flag, param := range map[string]string{"--remote": "remote", "-l": "selector"} {
			if strings.Contains(e.Message, fmt.Sprintf("unknown query parameter %q", param)) {
				return usagef("this wsd cannot filter history with %s (it takes no %s= parameter; upgrade wsd): %s", flag, param, e.Message)
			}
		}
	}
	return err
}

// exportSessions writes every matching session, page after page, as CSV
// (with a header row) or as one JSON object per line. Each page is
// bounded by --timeout, not the whole export.
func exportSessions(ctx context.Context, g *globals, c *client.Client, q client.SessionsQuery) error {
	w := newSessionWriter(g)
	progress := isTerminal(g.stderr)
	n := 0
	var fleet apitype.Fleet
	for {
		pctx, cancel := g.call(ctx)
		l, err := c.Sessions(pctx, q)
		cancel()
		if err != nil {
			return filterErr(err)
		}
		fleet = client.MergeFleet(fleet, l.Fleet)
		for _, s := range l.Sessions {
			if err := w.write(s); err != nil {
				return err
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		n += len(l.Sessions)
		if progress {
			fmt.Fprintf(g.stderr, "\r\033[K%d sessions", n)
		}
		if l.Next == "" {
			break
		}
		q.Before = l.Next
	}
	if progress {
		fmt.Fprintf(g.stderr, "\r\033[K%d sessions exported\n", n)
	}
	return g.partial(fleet)
}

// sessionColumns are the CSV columns, the JSON names of apitype.Session.
var sessionColumns = []string{"id", "node", "route", "user", "remote_addr", "labels", "origin", "user_agent",
	"subprotocol", "extensions", "connected_at", "closed_at", "close_code", "close_reason", "closed_by", "error",
	"messages_in", "messages_out", "bytes_in", "bytes_out"}

type sessionWriter struct {
	csv    *csv.Writer
	json   *json.Encoder
	header bool
}

func newSessionWriter(g *globals) *sessionWriter {
	if g.output == "csv" {
		return &sessionWriter{csv: csv.NewWriter(g.stdout)}
	}
	return &sessionWriter{json: json.NewEncoder(g.stdout)}
}

func (w *sessionWriter) write(s apitype.Session) error {
	if w.json != nil {
		return w.json.Encode(s)
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(sessionColumns); err != nil {
			return err
		}
	}
	closedAt, code := "", ""
	if s.ClosedAt != nil {
		closedAt = s.ClosedAt.Format(time.RFC3339Nano)
	}
	if s.CloseCode != 0 {
		code = strconv.Itoa(s.CloseCode)
	}
	lbl := labels(s.Labels)
	if len(s.Labels) == 0 {
		lbl = ""
	}
	return w.csv.Write([]string{s.ID, s.Node, s.Route, s.User, s.RemoteAddr, lbl, s.Origin, s.UserAgent,
		s.Subprotocol, s.Extensions, s.ConnectedAt.Format(time.RFC3339Nano), closedAt, code, s.CloseReason, s.ClosedBy,
		s.Error, strconv.FormatInt(s.MessagesIn, 10), strconv.FormatInt(s.MessagesOut, 10),
		strconv.FormatInt(s.BytesIn, 10), strconv.FormatInt(s.BytesOut, 10)})
}

// flush writes out what is buffered (the header alone if nothing came).
func (w *sessionWriter) flush() error {
	if w.csv == nil {
		return nil
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(sessionColumns); err != nil {
			return err
		}
	}
	w.csv.Flush()
	return w.csv.Error()
}
