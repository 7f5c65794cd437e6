package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newWhy(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "why ID",
		Short: "Say why a connection ended (or how a live one is doing)",
		Long: "Say in plain words why a session ended: its close code and reason, who or what closed it, the\n" +
			"limit or timeout that did with its configured value, the last frame headers before an abnormal\n" +
			"end (the black box), the admin calls on the connection and who made them, and its trace id (with\n" +
			"a link when wsd has --trace-url). For a live connection: its queue, round trip and last activity.\n" +
			"ID is the whole id, or a unique prefix of it (at least 4 characters).",
		Args:              exactArgs(1, "a session (connection) id"),
		ValidArgsFunction: completeSessionIDs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := resolveSession(ctx, c, args[0])
				if err != nil {
					if !client.IsNotFound(err) {
						return err
					}
					if id, err = resolveConn(ctx, c, args[0]); err != nil {
						return err
					}
				}
				w, err := c.Why(ctx, id)
				if err != nil {
					return withID(err, id)
				}
				return g.printer().why(w)
			})
		},
	}
}

func (p *printer) why(w *apitype.Why) error {
	if p.json() {
		return p.writeJSON(w, true)
	}
	if err := p.line("%s", w.Summary); err != nil {
		return err
	}
	now := p.now()
	kv := [][2]string{{"ID", w.ID}}
	if w.ClosedBy != "" {
		kv = append(kv,
			[2]string{"Closed", stamp(w.ClosedAt, now)},
			[2]string{"Close", closeCode(w.CloseCode, w.CloseReason)},
			[2]string{"Closed by", w.ClosedBy + ": " + w.Meaning})
		if w.Error != "" {
			kv = append(kv, [2]string{"Error", w.Error})
		}
		for _, l := range w.Limits {
			kv = append(kv, [2]string{"Limit", "--" + l.Name + " " + l.Value})
		}
	}
	if c := w.Connection; c != nil {
		rtt := "-"
		if c.RTTMS != nil {
			rtt = strconv.FormatFloat(*c.RTTMS, 'f', 1, 64) + " ms"
		}
		kv = append(kv,
			[2]string{"Connected", stamp(&c.ConnectedAt, now)},
			[2]string{"Last message", stamp(c.LastActivityAt, now)},
			[2]string{"Queue", fmt.Sprintf("%s (oldest %d ms)", bytesize(c.SendQueueBytes), c.OldestQueuedMS)},
			[2]string{"Round trip", rtt})
	}
	trace := orDash(w.TraceID)
	if w.TraceURL != "" {
		trace += "  " + w.TraceURL
	}
	kv = append(kv, [2]string{"Trace", trace})
	if err := p.fields(kv); err != nil {
		return err
	}
	if len(w.BlackBox) > 0 {
		if err := p.line("\nBlack box (last %d frame headers, oldest first):", len(w.BlackBox)); err != nil {
			return err
		}
		rows := make([][]string, len(w.BlackBox))
		for i, f := range w.BlackBox {
			flags := ""
			if f.Fin {
				flags = "FIN"
			}
			if f.RSV != 0 {
				flags = strings.TrimSpace(flags + " RSV=" + strconv.Itoa(int(f.RSV)))
			}
			rows[i] = []string{f.At.Local().Format("15:04:05.000"), f.Direction, f.Opcode, orDash(flags), strconv.FormatInt(f.Length, 10)}
		}
		if err := p.table([]string{"TIME", "DIR", "OPCODE", "FLAGS", "LENGTH"}, rows); err != nil {
			return err
		}
	}
	if len(w.Actions) > 0 {
		if err := p.line("\nAdmin actions on it:"); err != nil {
			return err
		}
		rows := make([][]string, len(w.Actions))
		for i, a := range w.Actions {
			rows[i] = []string{a.At.Local().Format(time.RFC3339), a.Subject, a.Action, a.Result}
		}
		return p.table([]string{"AT", "SUBJECT", "ACTION", "RESULT"}, rows)
	}
	return nil
}
