package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newSend(g *globals) *cobra.Command {
	var (
		file   string
		binary bool
	)
	cmd := &cobra.Command{
		Use:               "send ID TEXT | send ID --file F [--binary]",
		Short:             "Send one message to a live connection",
		Long:              "Send one message to a live connection. ID is the whole id or a unique prefix of it (at least 4 characters).",
		ValidArgsFunction: completeConnIDs(g, 1),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want a connection id and the message (or --file)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			txt, bin, err := payload(g, args[1:], file, binary)
			if err != nil {
				return err
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := resolveConn(ctx, c, args[0])
				if err != nil {
					return err
				}
				res, err := c.Send(ctx, id, apitype.Message{Text: txt, Binary: bin})
				if err != nil {
					return withID(err, id)
				}
				p := g.printer()
				switch {
				case p.json():
					return p.writeJSON(res, true)
				case p.quiet:
					return nil
				}
				return p.line("sent %d bytes to %s", res.Bytes, res.ID)
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the message from a file (- for stdin)")
	cmd.Flags().BoolVar(&binary, "binary", false, "send a binary message")
	return cmd
}
