package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/protocol"
)

// Bench scenarios.
const (
	scenarioEcho      = "echo"
	scenarioIdle      = "idle"
	scenarioChurn     = "churn"
	scenarioBroadcast = "broadcast"
)

// perSource is how many connections a bench opens from one 127.0.0.x
// source address: below the ~28k ephemeral ports of one address.
const perSource = 20000

const (
	maxFrameHeader      = 14      // a client frame's header, at most
	maxBenchWriteBuffer = 1 << 20 // the largest write buffer per echo connection
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

// benchResult is what a bench measured; -o json prints it as is.
type benchResult struct {
	Scenario    string  `json:"scenario"`
	URL         string  `json:"url"`
	Connections int     `json:"connections"`
	Size        int     `json:"size,omitempty"`
	Pipeline    int     `json:"pipeline,omitempty"`
	Sources     int     `json:"sources"`
	ElapsedS    float64 `json:"elapsed_s"`
	// Operations counts messages echoed, connections opened (idle),
	// handshakes (churn) or broadcasts (broadcast), in Unit.
	Operations int64   `json:"operations"`
	Unit       string  `json:"unit"`
	Rate       float64 `json:"rate_per_s"`
	// Deliveries counts broadcast messages received by all receivers.
	Deliveries int64 `json:"deliveries,omitempty"`
	// Latency: echo round trip, handshake (churn, idle), or time until
	// every receiver had the message (broadcast).
	Latency    *benchLatency `json:"latency,omitempty"`
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	// ClientCPUS is this process's CPU time (user+system) during the run,
	// and ClientCPUPerOpUS its share per operation: compare it with the
	// server's to check that the load generator is the cheaper side.
	ClientCPUS       float64 `json:"client_cpu_s"`
	ClientCPUPerOpUS float64 `json:"client_cpu_per_op_us"`
	// With --pid: the server's CPU time over the same phase and per
	// operation (per delivery for broadcast), its RSS at the end of the
	// phase, and (idle) its RSS growth per connection held.
	ServerCPUS       float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerOpUS float64 `json:"server_cpu_per_op_us,omitempty"`
	ServerRSS        int64   `json:"server_rss_bytes,omitempty"`
	ServerRSSPerConn float64 `json:"server_rss_per_conn_bytes,omitempty"`
}

type benchLatency struct {
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func newBench(g *globals) *cobra.Command {
	o := benchOpts{header: http.Header{}}
	var headers []string
	cmd := &cobra.Command{
		Use:   "bench URL [echo|idle|churn|broadcast]",
		Short: "Load generator: echo, idle, churn and broadcast scenarios with a latency summary",
		Long: `Run a load scenario against a WebSocket server (ws:// URL) and summarize it.

  echo       -c connections each send --size-byte messages and wait for the echo
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
the server.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want a ws:// URL and optionally a scenario (echo, idle, churn, broadcast)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.url = args[0]
			o.scenario = scenarioEcho
			if len(args) == 2 {
				o.scenario = args[1]
			}
			if !cmd.Flags().Changed("duration") && o.count > 0 {
				o.duration = 10 * time.Minute
			}
			if o.scenario == scenarioBroadcast && o.count == 0 && !cmd.Flags().Changed("duration") {
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
			res, err := runBench(cmd.Context(), g, &o)
			if res != nil {
				if perr := g.printer().bench(res); perr != nil {
					return perr
				}
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

func (o *benchOpts) validate() error {
	switch o.scenario {
	case scenarioEcho, scenarioIdle, scenarioChurn, scenarioBroadcast:
	default:
		return usagef("unknown scenario %q: want echo, idle, churn or broadcast", o.scenario)
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return usagef("%q: want a ws:// or wss:// URL", o.url)
	}
	switch {
	case o.conns < 1:
		return usagef("-c must be at least 1")
	case o.size < 0 || o.size > 64<<20:
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
	if o.sources == 0 {
		o.sources = 1
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil && o.scenario != scenarioChurn {
			o.sources = (o.conns + perSource - 1) / perSource
		}
	}
	return nil
}

// bench is one run in progress.
type bench struct {
	o        *benchOpts
	g        *globals
	ops      atomic.Int64 // operations done
	claimed  atomic.Int64 // operations started (for -n)
	errs     atomic.Int64
	firstErr atomic.Pointer[error]
	stop     atomic.Bool
	dials    atomic.Int64
	payload  []byte
	typ      protocol.MessageType
	openTime time.Duration // idle: how long opening took
	phase    phase
}

func (b *bench) fail(err error) {
	b.errs.Add(1)
	b.firstErr.CompareAndSwap(nil, &err)
}

// claim reserves the next operation; false once -n are reserved or the run
// is over.
func (b *bench) claim() bool {
	if b.stop.Load() {
		return false
	}
	return b.o.count == 0 || b.claimed.Add(1) <= b.o.count
}

func (b *bench) dialOptions() *protocol.DialOptions {
	opts := &protocol.DialOptions{Header: b.o.header}
	opts.CloseTimeout = 2 * time.Second
	if n := b.o.size + maxFrameHeader; b.o.scenario == "echo" && n > protocol.DefaultBufferSize {
		// A whole frame fits the write buffer, so a message costs one
		// write system call, not one per buffer's worth: a client masks a
		// copy (it may not send the caller's bytes in place), and on
		// loopback each write also pays the server's receive path.
		opts.WriteBufferSize = min(n, maxBenchWriteBuffer)
	}
	if b.o.sources > 1 {
		i := b.dials.Add(1)
		ip := net.IPv4(127, 0, 0, byte(1+i%int64(b.o.sources)))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		opts.NetDialContext = d.DialContext
	}
	return opts
}

func (b *bench) dial(ctx context.Context) (*protocol.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := protocol.Dial(dctx, b.o.url, b.dialOptions())
	return c, err
}

// openAll opens n connections, o.dialWorkers at a time, recording each
// handshake's latency. It stops at the first failure unless keepGoing.
func (b *bench) openAll(ctx context.Context, n int, keepGoing bool, lat *latencies) ([]*protocol.Conn, error) {
	conns := make([]*protocol.Conn, n)
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(b.o.dialWorkers, n) {
		wg.Go(func() {
			var l latencies
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				c, err := b.dial(ctx)
				if err != nil {
					b.fail(err)
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					if !keepGoing {
						next.Store(int64(n))
					}
					continue
				}
				l.record(time.Since(t0))
				conns[i] = c
				b.ops.Add(1)
			}
			mu.Lock()
			lat.merge(&l)
			mu.Unlock()
		})
	}
	wg.Wait()
	out := conns[:0]
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	if first != nil && !keepGoing {
		closeAll(out)
		return nil, fmt.Errorf("open %d connections: %w", n, first)
	}
	return out, nil
}

// closeAll closes connections with 1000, 64 at a time (each close is bounded
// by the close timeout).
func closeAll(conns []*protocol.Conn) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(64, len(conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				if err := conns[i].Close(protocol.StatusNormalClosure, ""); err != nil {
					conns[i].CloseNow()
				}
			}
		})
	}
	wg.Wait()
}

func runBench(ctx context.Context, g *globals, o *benchOpts) (*benchResult, error) {
	b := &bench{o: o, g: g, typ: protocol.BinaryMessage}
	b.payload = make([]byte, o.size)
	if o.text {
		b.typ = protocol.TextMessage
		for i := range b.payload {
			b.payload[i] = 'a' + byte(i%26)
		}
	} else if _, err := rand.Read(b.payload); err != nil {
		return nil, err
	}
	res := &benchResult{Scenario: o.scenario, URL: o.url, Connections: o.conns, Sources: o.sources}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	unit := map[string]string{scenarioEcho: "msgs", scenarioIdle: "connections", scenarioChurn: "handshakes", scenarioBroadcast: "broadcasts"}[o.scenario]
	stopProgress := b.progress(unit)
	var (
		lat latencies
		err error
	)
	switch o.scenario {
	case scenarioEcho:
		res.Size, res.Pipeline = o.size, o.pipeline
		err = b.echo(ctx, &lat)
	case scenarioIdle:
		err = b.idle(ctx, &lat)
	case scenarioChurn:
		err = b.churn(ctx, &lat)
	case scenarioBroadcast:
		res.Size = o.size
		res.Deliveries, err = b.broadcast(ctx, &lat)
	}
	b.end()
	stopProgress()
	elapsed, cpu := b.phase.elapsed, b.phase.cpu

	res.ElapsedS = elapsed.Seconds()
	res.Operations = b.ops.Load()
	res.Unit = unit
	rateOver := elapsed
	if o.scenario == scenarioIdle {
		rateOver = b.openTime // the rate is that of opening
	}
	if rateOver > 0 {
		res.Rate = float64(res.Operations) / rateOver.Seconds()
	}
	if lat.n > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		res.Latency = &benchLatency{P50MS: ms(lat.quantile(0.5)), P99MS: ms(lat.quantile(0.99)), P999MS: ms(lat.quantile(0.999)), MaxMS: ms(lat.max)}
	}
	res.Errors = b.errs.Load()
	if e := b.firstErr.Load(); e != nil {
		res.FirstError = (*e).Error()
	}
	res.ClientCPUS = cpu.Seconds()
	per := res.Operations
	if res.Deliveries > 0 {
		per = res.Deliveries
	}
	if per > 0 {
		res.ClientCPUPerOpUS = float64(cpu) / float64(time.Microsecond) / float64(per)
	}
	if o.pid > 0 {
		res.ServerCPUS = b.phase.srv.Seconds()
		if per > 0 {
			res.ServerCPUPerOpUS = float64(b.phase.srv) / float64(time.Microsecond) / float64(per)
		}
		res.ServerRSS = b.phase.rss1
		if o.scenario == scenarioIdle && res.Operations > 0 {
			res.ServerRSSPerConn = float64(b.phase.rss1-b.phase.rss0) / float64(res.Operations)
		}
	}
	return res, err
}

// progress prints a live line on a terminal, once a second, until the
// returned function is called.
func (b *bench) progress(unit string) func() {
	if !isTerminal(b.g.stdout) || b.g.output == "json" {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), int64(0)
		for {
			select {
			case <-done:
				fmt.Fprint(b.g.stdout, "\r\033[K")
				return
			case now := <-t.C:
				n := b.ops.Load()
				fmt.Fprintf(b.g.stdout, "\r\033[K%s  %s %d %s (%d/s)  errors %d", b.o.scenario,
					span(now.Sub(start)), n, unit, n-last, b.errs.Load())
				last = n
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// timer sets b.stop after d.
func (b *bench) timer(d time.Duration) *time.Timer {
	return time.AfterFunc(d, func() { b.stop.Store(true) })
}

func (b *bench) echo(ctx context.Context, lat *latencies) error {
	conns, err := b.openAll(ctx, b.o.conns, false, &latencies{})
	if err != nil {
		return err
	}
	defer closeAll(conns)
	defer b.end()
	b.ops.Store(0)
	b.begin()
	end := time.Now().Add(b.o.duration)
	t := b.timer(b.o.duration)
	defer t.Stop()
	stopCtx := context.AfterFunc(ctx, func() { b.stop.Store(true) })
	defer stopCtx()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range conns {
		// A server that stops answering cannot hold the bench past its end.
		if err := c.SetReadDeadline(end.Add(5 * time.Second)); err != nil {
			return err
		}
		if err := c.SetWriteDeadline(end.Add(5 * time.Second)); err != nil {
			return err
		}
		wg.Go(func() {
			var l latencies
			if b.o.pipeline == 1 {
				b.echoClosed(c, &l)
			} else {
				b.echoPipelined(c, &l)
			}
			mu.Lock()
			lat.merge(&l)
			mu.Unlock()
		})
	}
	wg.Wait()
	return nil
}

func (b *bench) echoClosed(c *protocol.Conn, l *latencies) {
	ctx := context.Background()
	var buf []byte
	for b.claim() {
		t0 := time.Now()
		if err := c.Write(ctx, b.typ, b.payload); err != nil {
			b.fail(err)
			return
		}
		var err error
		if _, buf, err = c.ReadInto(ctx, buf); err != nil {
			b.fail(err)
			return
		}
		l.record(time.Since(t0))
		b.ops.Add(1)
	}
}

func (b *bench) echoPipelined(c *protocol.Conn, l *latencies) {
	ctx := context.Background()
	inflight := make(chan time.Time, b.o.pipeline)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(inflight)
		for b.claim() {
			inflight <- time.Now()
			if err := c.Write(ctx, b.typ, b.payload); err != nil {
				b.fail(err)
				return
			}
		}
	})
	defer wg.Wait()
	var buf []byte
	for t0 := range inflight {
		var err error
		if _, buf, err = c.ReadInto(ctx, buf); err != nil {
			b.fail(err)
			// Unblock the writer; it stops on its next write error.
			c.CloseNow()
			for range inflight {
			}
			return
		}
		l.record(time.Since(t0))
		b.ops.Add(1)
	}
}

func (b *bench) idle(ctx context.Context, lat *latencies) error {
	b.begin()
	t0 := time.Now()
	conns, err := b.openAll(ctx, b.o.conns, true, lat)
	b.openTime = time.Since(t0)
	if err != nil {
		return err
	}
	// Readers answer pings and notice closes by the server.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { b.drain(c, nil) })
	}
	select {
	case <-time.After(b.o.duration):
	case <-ctx.Done():
	}
	b.end()
	b.stop.Store(true)
	closeAll(conns)
	wg.Wait()
	return nil
}

// drain reads until the connection ends, calling got for each message.
// A close we started is not an error.
func (b *bench) drain(c *protocol.Conn, got func([]byte)) {
	var buf []byte
	for {
		var err error
		_, buf, err = c.ReadInto(context.Background(), buf)
		if err != nil {
			var ce *protocol.CloseError
			if !b.stop.Load() && !errors.As(err, &ce) {
				b.fail(err)
			}
			return
		}
		if got != nil {
			got(buf)
		}
	}
}

func (b *bench) churn(ctx context.Context, lat *latencies) error {
	b.begin()
	t := b.timer(b.o.duration)
	defer t.Stop()
	stopCtx := context.AfterFunc(ctx, func() { b.stop.Store(true) })
	defer stopCtx()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range b.o.conns {
		wg.Go(func() {
			var l latencies
			for b.claim() {
				t0 := time.Now()
				c, err := b.dial(ctx)
				if err != nil {
					b.fail(err)
					continue
				}
				l.record(time.Since(t0))
				if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
					b.fail(err)
					continue
				}
				b.ops.Add(1)
			}
			mu.Lock()
			lat.merge(&l)
			mu.Unlock()
		})
	}
	wg.Wait()
	return nil
}

// broadcast opens the receivers, then sends -n broadcasts one after the
// other through the admin API, each after the previous one reached every
// receiver. It returns the number of messages received.
func (b *bench) broadcast(ctx context.Context, lat *latencies) (int64, error) {
	send, err := b.broadcaster()
	if err != nil {
		return 0, err
	}
	conns, err := b.openAll(ctx, b.o.conns, false, &latencies{})
	if err != nil {
		return 0, err
	}
	b.ops.Store(0)
	var (
		got        atomic.Int64
		deliveries atomic.Int64
		target     = int64(len(conns))
		all        = make(chan struct{}, 1)
		wg         sync.WaitGroup
	)
	for _, c := range conns {
		wg.Go(func() {
			b.drain(c, func(p []byte) {
				deliveries.Add(1)
				if got.Add(1) == target {
					all <- struct{}{}
				}
			})
		})
	}
	defer func() {
		b.end()
		b.stop.Store(true)
		closeAll(conns)
		wg.Wait()
	}()
	b.begin()
	deadline := time.Now().Add(b.o.duration)
	for b.claim() && time.Now().Before(deadline) {
		got.Store(0)
		t0 := time.Now()
		cctx, cancel := b.g.call(ctx)
		queued, err := send(cctx)
		cancel()
		if err != nil {
			return deliveries.Load(), fmt.Errorf("broadcast: %w", err)
		}
		if queued < target {
			return deliveries.Load(), fmt.Errorf("broadcast: queued for %d connections of the %d receivers", queued, target)
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			return deliveries.Load(), fmt.Errorf("broadcast: %d of %d receivers got the message within 10s", got.Load(), target)
		case <-ctx.Done():
			return deliveries.Load(), ctx.Err()
		}
		lat.record(time.Since(t0))
		b.ops.Add(1)
	}
	return deliveries.Load(), nil
}

// broadcaster returns the function that sends one broadcast and reports
// how many connections it was queued for: through the admin API, or a
// POST of the payload to --trigger (the peer servers of bench/).
func (b *bench) broadcaster() (func(context.Context) (int64, error), error) {
	if b.o.trigger != "" {
		hc := &http.Client{}
		return func(ctx context.Context) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.o.trigger, bytes.NewReader(b.payload))
			if err != nil {
				return 0, err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if err != nil {
				return 0, err
			}
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("%s: %s", b.o.trigger, resp.Status)
			}
			return strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
		}, nil
	}
	admin, err := b.g.client()
	if err != nil {
		return nil, err
	}
	req := apitype.BroadcastRequest{Selector: b.o.selector, All: b.o.selector == ""}
	if b.typ == protocol.TextMessage {
		s := string(b.payload)
		req.Text = &s
	} else {
		req.Binary = b.payload
	}
	return func(ctx context.Context) (int64, error) {
		r, err := admin.Broadcast(ctx, req)
		if err != nil {
			return 0, err
		}
		return int64(r.Queued), nil
	}, nil
}
