package loadgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Result is what a run measured; `wsctl bench -o json` prints it as is.
type Result struct {
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
	Latency    *Latency `json:"latency,omitempty"`
	Errors     int64    `json:"errors"`
	FirstError string   `json:"first_error,omitempty"`
	// Handshakes counts the handshakes that succeeded, in every scenario.
	Handshakes int64 `json:"handshakes"`
	// Refused counts handshakes the server refused for now (429 and 503,
	// RefusedRate and RefusedBusy apart); each was retried after its
	// Retry-After while the run lasted. They are not Errors.
	Refused      int64  `json:"refused"`
	RefusedRate  int64  `json:"refused_429,omitempty"`
	RefusedBusy  int64  `json:"refused_503,omitempty"`
	FirstRefusal string `json:"first_refusal,omitempty"`
	// ClientCPUS is this process's CPU time (user+system) during the run,
	// and ClientCPUPerOpUS its share per operation: compare it with the
	// server's to check that the load generator is the cheaper side.
	ClientCPUS       float64 `json:"client_cpu_s"`
	ClientCPUPerOpUS float64 `json:"client_cpu_per_op_us"`
	// With Config.PID: the server's CPU time over the same phase and per
	// operation (per delivery for broadcast), its RSS at the end of the
	// phase, and (idle) its RSS growth per connection held.
	ServerCPUS       float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerOpUS float64 `json:"server_cpu_per_op_us,omitempty"`
	ServerRSS        int64   `json:"server_rss_bytes,omitempty"`
	ServerRSSPerConn float64 `json:"server_rss_per_conn_bytes,omitempty"`
}

// MostlyRefused reports whether the server refused more handshakes than
// it accepted: the run measured its limits, not its performance.
func (r *Result) MostlyRefused() bool { return r.Refused > r.Handshakes }

// Latency summarizes a run's latency histogram, in milliseconds.
type Latency struct {
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Unit names what a scenario counts (Result.Unit): msgs, connections,
// handshakes or broadcasts; "" for an unknown scenario.
func Unit(scenario string) string {
	switch scenario {
	case ScenarioEcho:
		return "msgs"
	case ScenarioIdle:
		return "connections"
	case ScenarioChurn:
		return "handshakes"
	case ScenarioBroadcast:
		return "broadcasts"
	}
	return ""
}

// run is one run in progress.
type run struct {
	cfg      *Config
	ops      atomic.Int64 // operations done
	claimed  atomic.Int64 // operations started (for Count)
	errs     atomic.Int64
	firstErr atomic.Pointer[error]
	// handshakes succeeded; refusals (429, 503) and the first of them.
	handshakes   atomic.Int64
	refused429   atomic.Int64
	refused503   atomic.Int64
	firstRefusal atomic.Pointer[string]
	// retryUntil ends the retries of refused handshakes: Duration after
	// the run's start.
	retryUntil time.Time
	stop       atomic.Bool
	dials      atomic.Int64
	payload    []byte
	typ        protocol.MessageType
	openTime   time.Duration // idle: how long opening took
	phase      phase
}

// Run validates cfg and runs its scenario until Duration has passed, Count
// operations are done or ctx ends. It returns nil and the error if cfg is
// not valid; otherwise a Result, with the error that ended the run early
// if one did (errors of single operations are counted in the Result).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r := &run{cfg: &cfg, typ: protocol.BinaryMessage, retryUntil: time.Now().Add(cfg.Duration)}
	r.payload = make([]byte, cfg.Size)
	if cfg.Text {
		r.typ = protocol.TextMessage
		for i := range r.payload {
			r.payload[i] = 'a' + byte(i%26)
		}
	} else if _, err := rand.Read(r.payload); err != nil {
		return nil, fmt.Errorf("loadgen: payload: %w", err)
	}
	res := &Result{Scenario: cfg.Scenario, URL: cfg.URL, Connections: cfg.Conns, Sources: cfg.Sources}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stopProgress := r.progress()
	var (
		lat latencies
		err error
	)
	switch cfg.Scenario {
	case ScenarioEcho:
		res.Size, res.Pipeline = cfg.Size, cfg.Pipeline
		err = r.echo(ctx, &lat)
	case ScenarioIdle:
		err = r.idle(ctx, &lat)
	case ScenarioChurn:
		err = r.churn(ctx, &lat)
	case ScenarioBroadcast:
		res.Size = cfg.Size
		res.Deliveries, err = r.broadcast(ctx, &lat)
	}
	r.end()
	stopProgress()
	r.fill(res, &lat)
	return res, err
}

// fill computes the result's figures from the counters and the phase.
func (r *run) fill(res *Result, lat *latencies) {
	elapsed, cpu := r.phase.elapsed, r.phase.cpu
	res.ElapsedS = elapsed.Seconds()
	res.Operations = r.ops.Load()
	res.Unit = Unit(r.cfg.Scenario)
	rateOver := elapsed
	if r.cfg.Scenario == ScenarioIdle {
		rateOver = r.openTime // the rate is that of opening
	}
	if rateOver > 0 {
		res.Rate = float64(res.Operations) / rateOver.Seconds()
	}
	if lat.n > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		res.Latency = &Latency{P50MS: ms(lat.quantile(0.5)), P99MS: ms(lat.quantile(0.99)), P999MS: ms(lat.quantile(0.999)), MaxMS: ms(lat.max)}
	}
	res.Errors = r.errs.Load()
	if e := r.firstErr.Load(); e != nil {
		res.FirstError = (*e).Error()
	}
	res.Handshakes = r.handshakes.Load()
	res.RefusedRate, res.RefusedBusy = r.refused429.Load(), r.refused503.Load()
	res.Refused = res.RefusedRate + res.RefusedBusy
	if e := r.firstRefusal.Load(); e != nil {
		res.FirstRefusal = *e
	}
	res.ClientCPUS = cpu.Seconds()
	per := res.Operations
	if res.Deliveries > 0 {
		per = res.Deliveries
	}
	if per > 0 {
		res.ClientCPUPerOpUS = float64(cpu) / float64(time.Microsecond) / float64(per)
	}
	if r.cfg.PID > 0 {
		res.ServerCPUS = r.phase.srv.Seconds()
		if per > 0 {
			res.ServerCPUPerOpUS = float64(r.phase.srv) / float64(time.Microsecond) / float64(per)
		}
		res.ServerRSS = r.phase.rss1
		if r.cfg.Scenario == ScenarioIdle && res.Operations > 0 {
			res.ServerRSSPerConn = float64(r.phase.rss1-r.phase.rss0) / float64(res.Operations)
		}
	}
}

// progress calls cfg.Progress every cfg.ProgressEvery until the returned
// function is called.
func (r *run) progress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				r.cfg.Progress(Progress{Elapsed: now.Sub(start), Operations: r.ops.Load(), Errors: r.errs.Load(),
					Refused: r.refused429.Load() + r.refused503.Load()})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *run) fail(err error) {
	r.errs.Add(1)
	r.firstErr.CompareAndSwap(nil, &err)
}

// claim reserves the next operation; false once Count are reserved or the
// run is over.
func (r *run) claim() bool {
	if r.stop.Load() {
		return false
	}
	return r.cfg.Count == 0 || r.claimed.Add(1) <= r.cfg.Count
}

// timer sets r.stop after d.
func (r *run) timer(d time.Duration) *time.Timer {
	return time.AfterFunc(d, func() { r.stop.Store(true) })
}

func (r *run) dialOptions() *protocol.DialOptions {
	opts := &protocol.DialOptions{Header: r.cfg.Header}
	opts.CloseTimeout = 2 * time.Second
	if n := r.cfg.Size + maxFrameHeader; r.cfg.Scenario == ScenarioEcho && n > protocol.DefaultBufferSize {
		// A whole frame fits the write buffer, so a message costs one
		// write system call, not one per buffer's worth: a client masks a
		// copy (it may not send the caller's bytes in place), and on
		// loopback each write also pays the server's receive path.
		opts.WriteBufferSize = min(n, maxBenchWriteBuffer)
	}
	if r.cfg.Sources > 1 {
		i := r.dials.Add(1)
		ip := net.IPv4(127, 0, 0, byte(1+i%int64(r.cfg.Sources)))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		opts.NetDialContext = d.DialContext
	}
	return opts
}

func (r *run) dial(ctx context.Context) (*protocol.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := protocol.Dial(dctx, r.cfg.URL, r.dialOptions())
	return c, err
}

// openAll opens n connections, cfg.DialWorkers at a time, recording each
// handshake's latency. It stops at the first failure unless keepGoing.
func (r *run) openAll(ctx context.Context, n int, keepGoing bool, lat *latencies) ([]*protocol.Conn, error) {
	conns := make([]*protocol.Conn, n)
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(r.cfg.DialWorkers, n) {
		wg.Go(func() {
			var l latencies
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					break
				}
				c, took, refused, err := r.dialRetry(ctx)
				if err != nil {
					if !refused {
						r.fail(err)
					}
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
				l.record(took)
				conns[i] = c
				r.ops.Add(1)
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
