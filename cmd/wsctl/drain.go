package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

// cordon, uncordon and drain: take the node wsctl talks to out of rotation
// without a reconnect storm (PRODUCT.md §10).

// nodeFlag adds --node: the verb acts on that node of the fleet rather
// than on the one wsctl talks to.
func nodeFlag(g *globals, cmd *cobra.Command, node *string) {
	cmd.Flags().StringVar(node, "node", "", "act on this node of the fleet (wsctl nodes lists them); default: the node wsctl talks to")
	if err := cmd.RegisterFlagCompletionFunc("node", completeNodes(g)); err != nil {
		panic(err) // the flag was just added
	}
}

func newCordon(g *globals) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "cordon [--node NAME]",
		Short: "Refuse new upgrades on the node (503 with Retry-After; /readyz fails); live connections stay",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.Cordon(ctx, node)
				if err != nil {
					return err
				}
				return g.printer().cordon(st)
			})
		},
	}
	nodeFlag(g, cmd, &node)
	return cmd
}

func newUncordon(g *globals) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "uncordon [--node NAME]",
		Short: "Take new upgrades on the node again (refused while a drain runs)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.Uncordon(ctx, node)
				if err != nil {
					return err
				}
				return g.printer().cordon(st)
			})
		},
	}
	nodeFlag(g, cmd, &node)
	return cmd
}

func newDrain(g *globals) *cobra.Command {
	var (
		req    apitype.DrainRequest
		over   time.Duration
		detach bool
		status bool
		node   string
	)
	cmd := &cobra.Command{
		Use:   "drain [--node NAME] [-l SELECTOR] [--over 5m] [--code 1012] [--reason R] [--detach] | drain --status [--node NAME]",
		Short: "Cordon the node and close its connections spread over a window",
		Long: "Cordon the node (new upgrades get 503 with Retry-After, /readyz fails) and close the connections\n" +
			"matching -l SELECTOR (default: every one) with --code and --reason, in paced, jittered batches\n" +
			"spread over --over, so that their clients reconnect elsewhere over the window rather than all at\n" +
			"once. History records them as closed_by=drain. The drain runs on wsd: wsctl follows its progress\n" +
			"(a live line on a terminal, plain lines otherwise) until it ends, unless --detach; interrupting\n" +
			"wsctl does not stop it. The node stays cordoned afterwards: wsctl uncordon takes it back.\n" +
			"--status shows the progress of the running drain, or of the last. In a fleet, --node NAME drains\n" +
			"(or shows) that node rather than the one wsctl talks to.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var st *apitype.Drain
			ctx, cancel := g.call(cmd.Context())
			if status {
				st, err = c.DrainStatus(ctx, node)
			} else {
				if over < 0 {
					cancel()
					return usagef("--over %v: want 0 or more", over)
				}
				req.Over = over.String()
				st, err = c.Drain(ctx, node, req)
			}
			cancel()
			if err != nil {
				if client.IsConflict(err) && !status {
					return hinted{err, "follow it with: wsctl drain --status"}
				}
				return err
			}
			p := g.printer()
			if detach || status || !st.Running {
				return p.drain(st)
			}
			return follow(cmd.Context(), g, c, p, node, st)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&req.Selector, "selector", "l", "", "drain the connections matching this selector (default: every one)")
	f.DurationVar(&over, "over", time.Minute, "window the closes are spread over")
	f.IntVar(&req.Code, "code", 1012, "close code: 1000, 1001, 1008, 1011-1014 or 3000-4999")
	f.StringVar(&req.Reason, "reason", "draining", "close reason (at most 123 bytes)")
	f.BoolVar(&detach, "detach", false, "start the drain and return at once")
	f.BoolVar(&status, "status", false, "show the progress of the running (or last) drain; start nothing")
	nodeFlag(g, cmd, &node)
	cmd.MarkFlagsMutuallyExclusive("status", "detach")
	return cmd
}

// drainPoll is how often wsctl asks for a drain's progress while it
// follows it.
const drainPoll = 250 * time.Millisecond

// follow polls the drain's progress until it ends: a line rewritten in
// place on a terminal, else a plain line whenever the count changes.
func follow(ctx context.Context, g *globals, c *client.Client, p *printer, node string, st *apitype.Drain) error {
	term := isTerminal(g.stdout) && !p.json()
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	last := -1
	for st.Running {
		if !p.json() {
			if term {
				fmt.Fprintf(g.stdout, "\r\x1b[K%s", progress(st))
			} else if st.Closed != last {
				if err := p.line("%s", progress(st)); err != nil {
					return err
				}
			}
		}
		last = st.Closed
		select {
		case <-t.C:
		case <-ctx.Done():
			if term {
				fmt.Fprintln(g.stdout)
			}
			fmt.Fprintln(g.stderr, "wsctl: stopped following; the drain goes on (wsctl drain --status)")
			return ctx.Err()
		}
		cctx, cancel := g.call(ctx)
		next, err := c.DrainStatus(cctx, node)
		cancel()
		if err != nil {
			if term {
				fmt.Fprintln(g.stdout)
			}
			return errors.Join(err, errors.New("the drain goes on on wsd (wsctl drain --status)"))
		}
		st = next
	}
	if term {
		fmt.Fprint(g.stdout, "\r\x1b[K")
	}
	return p.drain(st)
}

func progress(st *apitype.Drain) string {
	return fmt.Sprintf("draining: closed %d of %d, remaining %d, eta %s", st.Closed, st.Total, st.Remaining,
		span(time.Duration(st.ETASeconds*float64(time.Second))))
}

func (p *printer) cordon(st *apitype.Cordon) error {
	if p.json() {
		return p.writeJSON(st, true)
	}
	if st.Cordoned {
		return p.line("cordoned: new upgrades are refused (503), /readyz fails; live connections stay")
	}
	return p.line("uncordoned: new upgrades are taken")
}

func (p *printer) drain(st *apitype.Drain) error {
	if p.json() {
		return p.writeJSON(st, true)
	}
	sel := st.Selector
	if sel == "" {
		sel = "all"
	}
	switch {
	case st.Running:
		return p.line("draining %s: closed %d of %d, remaining %d, eta %s (code %d %q over %s)", sel, st.Closed, st.Total,
			st.Remaining, span(time.Duration(st.ETASeconds*float64(time.Second))), st.Code, st.Reason,
			span(time.Duration(st.OverSeconds*float64(time.Second))))
	case st.Error != "":
		return p.line("drain of %s ended early after closing %d of %d: %s", sel, st.Closed, st.Total, st.Error)
	}
	took := "-"
	if st.FinishedAt != nil {
		took = span(st.FinishedAt.Sub(st.StartedAt))
	}
	state := "the node stays cordoned (wsctl uncordon takes it back)"
	if !st.Cordoned {
		state = "the node is no longer cordoned"
	}
	return p.line("drained %s: closed %d of %d in %s (code %d %q); %s", sel, st.Closed, st.Total, took, st.Code, st.Reason, state)
}
