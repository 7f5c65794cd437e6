package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newKill(g *globals) *cobra.Command {
	var (
		selector string
		code     int
		reason   string
		dryRun   bool
		yes      bool
	)
	cmd := &cobra.Command{
		Use:               "kill ID... | kill -l SELECTOR [--code N] [--reason R] [--dry-run] [--yes]",
		Short:             "Close live connections by the closing handshake",
		Long:              "Close connections by id (whole, or a unique prefix of at least 4 characters), or every connection matching -l SELECTOR (-l all: every one),\nwith --code (default 1000) and --reason. A bulk kill shows what matches and asks\nfor confirmation on a terminal unless --yes; elsewhere, above wsd's\n--bulk-confirm-threshold it needs --yes.",
		ValidArgsFunction: completeConnIDs(g, 0),
		Args: func(_ *cobra.Command, args []string) error {
			if selector == "" && len(args) == 0 {
				return usagef("give connection ids or -l SELECTOR")
			}
			if selector != "" && len(args) > 0 {
				return usagef("give connection ids or -l SELECTOR, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			k := killer{g: g, c: c, p: g.printer(), code: code, reason: reason, dryRun: dryRun, yes: yes}
			if selector != "" {
				return k.selected(cmd, selector)
			}
			return k.ids(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&selector, "selector", "l", "", "close the connections matching this selector (all: every one)")
	f.IntVar(&code, "code", 1000, "close code: 1000, 1001, 1008, 1011-1014 or 3000-4999")
	f.StringVar(&reason, "reason", "", "close reason (at most 123 bytes)")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be closed; close nothing")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

type killer struct {
	g      *globals
	c      *client.Client
	p      *printer
	code   int
	reason string
	dryRun bool
	yes    bool
}

// ids closes connections one by one; it goes on after a failure and
// returns the first.
func (k killer) ids(cmd *cobra.Command, ids []string) error {
	var first error
	for _, arg := range ids {
		ctx, cancel := k.g.call(cmd.Context())
		id, err := resolveConn(ctx, k.c, arg)
		switch {
		case err != nil:
		case k.dryRun:
			var conn *apitype.Connection
			if conn, err = k.c.Connection(ctx, id); err == nil {
				err = k.p.connections([]apitype.Connection{*conn})
			}
		default:
			var res *apitype.CloseResult
			if res, err = k.c.Close(ctx, id, k.code, k.reason); err == nil {
				err = k.closed(res)
			}
		}
		cancel()
		if err != nil {
			err = withID(err, firstOf(id, arg))
			if first == nil {
				first = err
			} else {
				// The exit code is the first failure's; the others are
				// reported here.
				_, msg := describe(err, k.g)
				fmt.Fprintln(k.g.stderr, "wsctl: "+msg)
			}
		}
	}
	return first
}

func (k killer) closed(res *apitype.CloseResult) error {
	switch {
	case k.p.json():
		return k.p.writeJSON(res, false)
	case k.p.quiet:
		return k.p.ids([]string{res.ID})
	}
	return k.p.line("closed %s (%s)", res.ID, closeCode(res.Code, res.Reason))
}

func (k killer) selected(cmd *cobra.Command, selector string) error {
	ctx, cancel := k.g.call(cmd.Context())
	defer cancel()
	req := apitype.CloseRequest{Selector: selector, Code: k.code, Reason: k.reason, DryRun: true}
	dry, err := k.c.CloseSelected(ctx, req)
	if err != nil {
		return err
	}
	if k.dryRun {
		if k.p.quiet && !k.p.json() {
			return dryRunIDs(ctx, k.c, k.p, selector)
		}
		return errors.Join(k.p.bulk("closed", dry), k.g.partial(dry.Fleet))
	}
	if dry.Matched == 0 {
		if k.p.json() {
			return k.p.writeJSON(apitype.BulkResult{}, true)
		}
		if !k.p.quiet {
			return k.p.line("no connection matches %s", selector)
		}
		return nil
	}
	req.DryRun = false
	if !k.yes && isTerminal(k.g.stdin) {
		fmt.Fprintf(k.g.stderr, "%d connection(s) match %s:\n", dry.Matched, selector)
		sample := *k.p
		sample.w, sample.format, sample.quiet = k.g.stderr, "table", false
		if err := sample.connections(dry.Sample); err != nil {
			return err
		}
		if dry.Matched > len(dry.Sample) {
			fmt.Fprintf(k.g.stderr, "... and %d more\n", dry.Matched-len(dry.Sample))
		}
		fmt.Fprintf(k.g.stderr, "Close them with %s? [y/N] ", closeCode(k.code, k.reason))
		answer, _ := bufio.NewReader(k.g.stdin).ReadString('\n') // no answer is a no
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not confirmed; nothing closed")
		}
		req.Confirm = &dry.Matched
	} else if k.yes {
		req.Confirm = &dry.Matched
	}
	res, err := k.c.CloseSelected(ctx, req)
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Code == apitype.CodeConfirmationRequired && !k.yes && req.Confirm == nil {
		return fmt.Errorf("%d connections match %s, more than wsd's confirmation threshold: repeat with --yes (or look first with --dry-run)", dry.Matched, selector)
	}
	if err != nil {
		return err
	}
	return errors.Join(k.p.bulk("closing", res), k.g.partial(res.Fleet))
}

// dryRunIDs prints, for -q --dry-run, the id of every connection the
// selector matches (the dry run's answer holds only a sample).
func dryRunIDs(ctx context.Context, c *client.Client, p *printer, selector string) error {
	conns, _, err := c.AllConnections(ctx, selector) // the dry run's own answer warns if partial
	if err != nil {
		return err
	}
	return p.connections(conns)
}
