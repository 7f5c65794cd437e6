package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newTail(g *globals) *cobra.Command {
	var (
		q     client.TailQuery
		count int
	)
	cmd := &cobra.Command{
		Use:   "tail ID | tail -l SELECTOR [--payload] [--count N]",
		Short: "Print the messages of live connections as they are received and sent",
		Long: "Print one line per message that a connection receives (in) or is sent (out), as it happens:\n" +
			"time, connection, direction, type and size (-o json: one JSON object each). --payload adds a\n" +
			"preview of the payload (at most 256 bytes) and needs a token with scope connections:tap. Taps\n" +
			"never slow a connection: messages a slow tail misses are counted (\"dropped N\").\n" +
			"In a fleet, an id is tapped on its node and a selector on every node, merged; a node that cannot\n" +
			"be tapped is named in a warning (exit 1 under --strict, once the tail ends).\n" +
			"Until interrupted, until --count messages, or until wsd ends the stream.",
		Args: func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == (q.Selector != "") || len(args) > 1 {
				return usagef("give one connection id or -l SELECTOR")
			}
			return nil
		},
		ValidArgsFunction: completeConnIDs(g, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 1 {
				rctx, cancel := g.call(ctx)
				q.ID, err = resolveConn(rctx, c, args[0])
				cancel()
				if err != nil {
					return err
				}
			}
			p := g.printer()
			n := 0
			var partial error
			err = c.Tail(ctx, q, func(f apitype.Fleet) { partial = g.partial(f) }, func(ev apitype.TapEvent) error {
				if err := p.tap(ev); err != nil {
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
				return partial
			case errors.Is(err, client.ErrStreamEnded):
				if !p.json() {
					if err := p.line("%s", "the tap stream ended (wsd is shutting down, the stream reached its maximum age, or the tapped nodes left)"); err != nil {
						return err
					}
				}
				return partial
			}
			return withID(err, q.ID)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&q.Selector, "selector", "l", "", "tail the connections matching this selector (all: every one)")
	f.BoolVar(&q.Payload, "payload", false, "show a preview of each payload (scope connections:tap)")
	f.IntVar(&count, "count", 0, "exit after this many messages (0: never)")
	return cmd
}

func (p *printer) tap(ev apitype.TapEvent) error {
	if p.json() {
		return p.writeJSON(ev, false)
	}
	line := ev.At.Local().Format(eventTime) + "  " + ev.ID + "  " + ev.Direction + "  " + ev.Message + "  " + bytesize(int64(ev.Size))
	if ev.Payload != nil {
		line += "  " + preview(ev.Payload, ev.Message == "text", ev.Truncated)
	}
	if ev.Dropped > 0 {
		line += "  (dropped " + strconv.FormatUint(ev.Dropped, 10) + " before this)"
	}
	return p.line("%s", line)
}

// preview quotes a payload preview: text as a Go string, binary as hex.
func preview(b []byte, text, truncated bool) string {
	var s string
	if text && utf8.Valid(b) || text && truncated {
		s = strconv.Quote(strings.ToValidUTF8(string(b), "\uFFFD"))
	} else {
		const hex = "0123456789abcdef"
		var sb strings.Builder
		for _, c := range b {
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
		}
		s = "0x" + sb.String()
	}
	if truncated {
		s += "…"
	}
	return s
}
