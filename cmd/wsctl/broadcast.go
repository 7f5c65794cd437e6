package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newBroadcast(g *globals) *cobra.Command {
	var (
		selector string
		all      bool
		file     string
		binary   bool
		dryRun   bool
	)
	cmd := &cobra.Command{
		Use:   "broadcast -l SELECTOR|--all TEXT | --file F [--binary]",
		Short: "Send one message to every matching connection",
		Long:  "Send one message to every connection matching -l SELECTOR (or every connection with --all).\nIt answers how many matched, got the message, and were dropped (closing, or too slow).",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("the message must be one argument (quote it)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if selector == "" && !all {
				return usagef("give -l SELECTOR, or --all to send to every connection")
			}
			req := apitype.BroadcastRequest{Selector: selector, All: all, DryRun: dryRun}
			if !dryRun {
				var err error
				if req.Text, req.Binary, err = payload(g, args, file, binary); err != nil {
					return err
				}
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				if p := g.printer(); dryRun && p.quiet && !p.json() {
					sel := selector
					if all {
						sel = "all"
					}
					return dryRunIDs(ctx, c, p, sel)
				}
				res, err := c.Broadcast(ctx, req)
				if err != nil {
					return err
				}
				return errors.Join(g.printer().bulk("queued", res), g.partial(res.Fleet))
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&selector, "selector", "l", "", "connections matching this selector")
	f.BoolVar(&all, "all", false, "every connection")
	f.StringVar(&file, "file", "", "read the message from a file (- for stdin)")
	f.BoolVar(&binary, "binary", false, "send a binary message")
	f.BoolVar(&dryRun, "dry-run", false, "only count the matches")
	return cmd
}
