package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

func newTrace(g *globals) *cobra.Command {
	var span time.Duration
	cmd := &cobra.Command{
		Use:   "trace ID [--for 5m]",
		Short: "Trace every frame of one connection for a while, whatever the sampler says",
		Long: "Trace every frame of one live connection for --for (at most 1h), whatever the sampler and wsd's\n" +
			"--trace-frames say: its frames go to the trace collector under a websocket.trace_on_demand span.\n" +
			"The arming ends by itself; wsctl inspect shows it meanwhile. Arming again changes its end.\n" +
			"wsd needs tracing set up (OTEL_EXPORTER_OTLP_ENDPOINT).",
		Args:              exactArgs(1, "a connection id"),
		ValidArgsFunction: completeConnIDs(g, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if span < time.Second || span > time.Hour {
				return usagef("--for %v: want between 1s and 1h", span)
			}
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				id, err := resolveConn(ctx, c, args[0])
				if err != nil {
					return err
				}
				arm, err := c.Trace(ctx, id, span.String())
				if err != nil {
					return withID(err, id)
				}
				p := g.printer()
				if p.json() {
					return p.writeJSON(arm, true)
				}
				return p.line("tracing every frame of %s until %s: trace %s%s", id, rfc3339(arm.Until), arm.TraceID, traceLink(arm.TraceURL))
			})
		},
	}
	cmd.Flags().DurationVar(&span, "for", 5*time.Minute, "how long to trace the connection (1s to 1h)")
	return cmd
}
