package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newLs(g *globals) *cobra.Command {
	var (
		selector string
		watch    bool
		interval time.Duration
		count    int
	)
	cmd := &cobra.Command{
		Use:   "ls [-l SELECTOR] [-w [--interval 2s] [--count N]]",
		Short: "List live connections",
		Long: `List live connections, oldest first. -l filters with a selector (room=lobby,user!=bot,route=/chat).

-w keeps watching: the list is fetched again every --interval and, on a terminal, redrawn
in place; elsewhere (a pipe, a file) each fetch is printed as a snapshot after a line with
its time (RFC 3339) and count. It runs until interrupted or for --count snapshots.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !watch {
				if cmd.Flags().Changed("interval") || cmd.Flags().Changed("count") {
					return usagef("--interval and --count go with -w")
				}
				return g.do(cmd, func(ctx context.Context, c *client.Client) error {
					conns, fleet, err := c.AllConnections(ctx, selector)
					if err != nil {
						return err
					}
					return errors.Join(g.printer().connections(conns), g.partial(fleet))
				})
			}
			if interval < 100*time.Millisecond {
				return usagef("--interval must be at least 100ms")
			}
			if count < 0 {
				return usagef("--count must not be negative")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return watchList(cmd.Context(), g, c, selector, interval, count)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only connections matching this selector")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching: fetch the list again every --interval")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "with -w: time between fetches")
	cmd.Flags().IntVar(&count, "count", 0, "with -w: exit after this many snapshots (0: never)")
	return cmd
}

// ANSI sequences that move the cursor home and clear the screen.
const clearScreen = "\033[H\033[2J"

// watchList prints the list every interval: redrawn in place on a
// terminal, as successive snapshots elsewhere. Each fetch is bounded by
// --timeout; interrupting is a normal end.
func watchList(ctx context.Context, g *globals, c *client.Client, selector string, interval time.Duration, count int) error {
	term := isTerminal(g.stdout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		cctx, cancel := g.call(ctx)
		conns, fleet, err := c.AllConnections(cctx, selector)
		if err == nil {
			err = g.partial(fleet)
		}
		cancel()
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		var b bytes.Buffer
		p := g.printer()
		p.w = &b
		switch {
		case term:
			b.WriteString(clearScreen)
		case n > 1:
			b.WriteString("\n")
		}
		if !p.json() && !p.quiet {
			what := "connection(s)"
			if selector != "" {
				what += " matching " + selector
			}
			fmt.Fprintf(&b, "%s  %d %s\n", rfc3339(p.now()), len(conns), what)
		}
		if err := p.connections(conns); err != nil {
			return err
		}
		if _, err := g.stdout.Write(b.Bytes()); err != nil {
			return err
		}
		if count > 0 && n >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
