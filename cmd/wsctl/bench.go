package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/internal/loadgen"
)

type benchOpts struct {
	url         string
	scenario    string
	conns       int
	size        int
	duration    time.Duration
	count       int64
	pipeline    int
	sources     int
	dialWorkers int
	selector    string
	trigger     string
	text        bool
	pid         int
	header      http.Header
}

func newBench(g *globals) *cobra.Command {
	o := benchOpts{header: http.Header{}}
	var headers []string
	cmd := &cobra.Command{
		Use:   "bench URL [echo|idle|churn|broadcast]",
		Short: "Load generator: echo, idle, churn and broadcast scenarios with a latency summary",
		Long: `Run a load scenario against a WebSocket server (ws:// URL) and summarize it.

  echo       -c connections each send --size byte messages and wait for the echo
             (closed loop, or --pipeline k messages in flight); msgs/s, p50/p99/p999
  idle       open -c connections and hold them for -d; connections/s while opening
  churn      -c workers open and close connections; handshakes/s
  broadcast  -c receivers; each of -n broadcasts (default 10) goes through the admin
             API (--token or WSCTL_TOKEN) to every connection (or -l SELECTOR);
             time until all receivers have it

Every scenario stops by itself: after -d (default 10s), or after -n operations
(bounded by 10m unless -d is given). Connections beyond 20000 are spread over
127.0.0.x source addresses (--sources) when the target is loopback.
On a terminal a progress line is shown; -o json prints the result for scripts.
The client's own CPU time per operation is reported to verify it costs less than
the server.

A handshake the server refuses for now (429, 503) is retried after its Retry-After while
the run lasts and counted as refused, not as an error. wsd limits handshakes per client
IP (--handshake-rate, --handshake-burst) and connections per IP (--max-connections-per-ip):
for a load test from one address start wsd with those lifted (0: unlimited). bench
exits 1 when the server refused more handshakes than it accepted.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want a ws:// URL and optionally a scenario (echo, idle, churn, broadcast)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.url = args[0]
			o.scenario = loadgen.ScenarioEcho
			if len(args) == 2 {
				o.scenario = args[1]
			}
			if !cmd.Flags().Changed("duration") && o.count > 0 {
				o.duration = 10 * time.Minute
			}
			if o.scenario == loadgen.ScenarioBroadcast && o.count == 0 && !cmd.Flags().Changed("duration") {
				o.count = 10
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return usagef("-H %q: want \"Name: value\"", h)
				}
				o.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if err := o.validate(); err != nil {
				return err
			}
			cfg, err := o.config(g)
			if err != nil {
				return err
			}
			res, err := loadgen.Run(cmd.Context(), cfg)
			if cfg.Progress != nil {
				fmt.Fprint(g.stdout, "\r\033[K")
			}
			if res != nil {
				if perr := g.printer().bench(res); perr != nil {
					return perr
				}
				if res.Refused > 0 {
					fmt.Fprintln(g.stderr, "wsctl: "+refusalHint(res))
				}
			}
			if err == nil && res != nil && res.MostlyRefused() {
				return fmt.Errorf("wsd refused %d handshakes and accepted %d: the run measured its limits, not its speed", res.Refused, res.Handshakes)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.conns, "connections", "c", 64, "connections (echo, idle, broadcast) or workers (churn)")
	f.IntVar(&o.size, "size", 1024, "message size in bytes (echo, broadcast)")
	f.DurationVarP(&o.duration, "duration", "d", 10*time.Second, "how long to run (idle: how long to hold)")
	f.Int64VarP(&o.count, "count", "n", 0, "stop after this many messages (echo), handshakes (churn) or broadcasts")
	f.IntVar(&o.pipeline, "pipeline", 1, "echo: messages in flight per connection (1 = closed loop)")
	f.IntVar(&o.sources, "sources", 0, "127.0.0.x source addresses to spread connections over (default: one per 20000 connections on a loopback target)")
	f.IntVar(&o.dialWorkers, "dial-concurrency", 32, "handshakes in progress at once while opening connections")
	f.StringVarP(&o.selector, "selector", "l", "", "broadcast: send to connections matching this selector (default: all)")
	f.StringVar(&o.trigger, "trigger", "", "broadcast: POST each message to this http://127.0.0.1 URL (a peer server's /broadcast) instead of the admin API")
	f.IntVar(&o.pid, "pid", 0, "the server's process id (local server): report its CPU time per operation and RSS from /proc")
	f.BoolVar(&o.text, "text", false, "send text messages instead of binary")
	f.StringArrayVarP(&headers, "header", "H", nil, "extra request header \"Name: value\"; repeatable")
	return cmd
}

// validate checks the flags, in their own words; loadgen checks the
// resulting Config again.
func (o *benchOpts) validate() error {
	switch o.scenario {
	case loadgen.ScenarioEcho, loadgen.ScenarioIdle, loadgen.ScenarioChurn, loadgen.ScenarioBroadcast:
	default:
		return usagef("unknown scenario %q: want echo, idle, churn or broadcast", o.scenario)
	}
	if u, err := url.Parse(o.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return usagef("%q: want a ws:// or wss:// URL", o.url)
	}
	switch {
	case o.conns < 1:
		return usagef("-c must be at least 1")
	case o.size < 0 || o.size > loadgen.MaxSize:
		return usagef("--size must be between 0 and 64 MiB")
	case o.duration <= 0:
		return usagef("-d must be positive")
	case o.count < 0:
		return usagef("-n must not be negative")
	case o.pipeline < 1:
		return usagef("--pipeline must be at least 1")
	case o.dialWorkers < 1:
		return usagef("--dial-concurrency must be at least 1")
	case o.sources < 0 || o.sources > 250:
		return usagef("--sources must be between 0 and 250")
	}
	return nil
}

// config turns the flags into a loadgen.Config: the broadcaster (admin
// API or --trigger) and, on a terminal, the progress line.
func (o *benchOpts) config(g *globals) (loadgen.Config, error) {
	cfg := loadgen.Config{
		URL: o.url, Scenario: o.scenario, Conns: o.conns, Size: o.size, Text: o.text,
		Duration: o.duration, Count: o.count, Pipeline: o.pipeline, Sources: o.sources,
		DialWorkers: o.dialWorkers, Header: o.header, PID: o.pid,
	}
	if o.scenario == loadgen.ScenarioBroadcast {
		send, err := o.broadcaster(g)
		if err != nil {
			return cfg, err
		}
		cfg.Broadcast = send
	}
	if isTerminal(g.stdout) && g.output != "json" {
		unit, last := loadgen.Unit(o.scenario), int64(0)
		cfg.Progress = func(p loadgen.Progress) {
			fmt.Fprintf(g.stdout, "\r\033[K%s  %s %d %s (%d/s)  errors %d  refused %d", o.scenario,
				span(p.Elapsed), p.Operations, unit, p.Operations-last, p.Errors, p.Refused)
			last = p.Operations
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// broadcaster returns the function that sends one broadcast: a POST to
// --trigger (the peer servers of bench/), else through the admin API,
// each call bounded by --timeout.
func (o *benchOpts) broadcaster(g *globals) (loadgen.BroadcastFunc, error) {
	if o.trigger != "" {
		return loadgen.Trigger(o.trigger, nil), nil
	}
	admin, err := g.client()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, payload []byte) (int64, error) {
		req := apitype.BroadcastRequest{Selector: o.selector, All: o.selector == ""}
		if o.text {
			s := string(payload)
			req.Text = &s
		} else {
			req.Binary = payload
		}
		ctx, cancel := g.call(ctx)
		defer cancel()
		r, err := admin.Broadcast(ctx, req)
		if err != nil {
			return 0, err
		}
		return int64(r.Queued), nil
	}, nil
}

// refusalHint says which of wsd's limits refused handshakes and the flags
// that lift them.
func refusalHint(r *loadgen.Result) string {
	var why []string
	if r.RefusedRate > 0 {
		why = append(why, fmt.Sprintf("%d with 429 (the per-IP handshake rate: wsd --handshake-rate, --handshake-burst)", r.RefusedRate))
	}
	if r.RefusedBusy > 0 {
		why = append(why, fmt.Sprintf("%d with 503 (connections per IP or in all, or draining: wsd --max-connections-per-ip, --max-connections)", r.RefusedBusy))
	}
	return fmt.Sprintf("wsd refused %d handshakes (retried after their Retry-After while the run lasted): %s. For a load test from one address, start wsd with --handshake-rate 0 --max-connections-per-ip 0, as bench/run.sh does",
		r.Refused, strings.Join(why, "; "))
}
