// Command fleet is the fleet benchmark of issue 18: real wsd processes
// joined through a real NATS server on loopback, each holding thousands of
// idle WebSocket connections opened by client processes, measured for
//
//   - memory per connection on each node (RSS after minus before, from
//     /proc, divided by the node's connections);
//   - a broadcast to every connection through node A's admin API: the time
//     until every client has received it, and the CPU time of the wsd
//     processes per delivery (NATS's CPU separately, per broadcast);
//   - the list of every connection through node A's admin API, page by
//     page: the total time and each page's latency;
//
// for one node without --cluster holding -total connections, for -nodes
// nodes holding -total between them, and for -nodes nodes holding
// -per-node each. It prints one table on stdout and progress on stderr.
//
//	go build -o /tmp/wsd ./cmd/wsd && (cd bench && go run ./cmd/fleet -wsd /tmp/wsd)
//
// The program re-executes itself for its helpers (FLEETBENCH_ROLE): the
// NATS server (nats-server embedded, in its own process so that its CPU
// time is its own) and the clients, which only read. Every process it
// starts is killed when it ends, fails or is interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if ok, err := runRole(os.Args[1:]); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := run(ctx, cfg, os.Stderr)
	if len(results) > 0 {
		printTable(os.Stdout, cfg, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		stop()
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	wsd       string        // the wsd binary
	nodes     int           // nodes of the fleet scenarios
	perNode   int           // connections per node, "fleet" scenario
	total     int           // connections in all, "single" and "split" scenarios
	scenarios []string      // of single, split, fleet
	rounds    int           // measured broadcasts and lists
	page      int           // list page size
	perIP     int           // connections per 127.0.0.x source address
	perClient int           // connections per client process at most
	dialConc  int           // handshakes in flight per client process
	srcFirst  int           // first x of the 127.0.0.x source addresses
	timeout   time.Duration // the whole run at most
	wsdArgs   []string      // more wsd arguments
	keep      bool          // keep the work directory
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	cfg := &config{}
	fs.StringVar(&cfg.wsd, "wsd", "", "the wsd binary (required; go build -o /tmp/wsd ./cmd/wsd)")
	fs.IntVar(&cfg.nodes, "nodes", 3, "nodes in the fleet scenarios")
	fs.IntVar(&cfg.perNode, "per-node", 19000, "connections per node in the fleet scenario")
	fs.IntVar(&cfg.total, "total", 19000, "connections in all in the single and split scenarios")
	sc := fs.String("scenarios", "single,split,fleet", "which to run, comma-separated: single (one node without --cluster, -total), split (-nodes nodes, -total between them), fleet (-nodes × -per-node)")
	fs.IntVar(&cfg.rounds, "rounds", 5, "measured broadcasts and lists per scenario (after one warm-up each)")
	fs.IntVar(&cfg.page, "page", 1000, "page size of the list (limit, at most 1000)")
	fs.IntVar(&cfg.perIP, "per-ip", 2000, "connections per 127.0.0.x source address")
	fs.IntVar(&cfg.perClient, "per-client", 19000, "connections per client process at most (each needs one file descriptor per connection)")
	fs.IntVar(&cfg.dialConc, "dial-concurrency", 64, "handshakes in flight per client process")
	fs.IntVar(&cfg.srcFirst, "src-first", 10, "first x of the 127.0.0.x source addresses")
	fs.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "the whole run at most")
	wa := fs.String("wsd-args", "", "more wsd arguments, space-separated (e.g. \"--ping-interval 1h\")")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory (state and logs of every process)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.wsdArgs = strings.Fields(*wa)
	for s := range strings.SplitSeq(*sc, ",") {
		switch s = strings.TrimSpace(s); s {
		case "single", "split", "fleet":
			cfg.scenarios = append(cfg.scenarios, s)
		case "":
		default:
			return nil, fmt.Errorf("-scenarios: unknown %q (single, split, fleet)", s)
		}
	}
	switch {
	case cfg.wsd == "":
		return nil, errors.New("-wsd is required: the wsd binary (go build -o /tmp/wsd ./cmd/wsd)")
	case len(cfg.scenarios) == 0:
		return nil, errors.New("-scenarios: none")
	case cfg.nodes < 1 || cfg.perNode < 1 || cfg.total < cfg.nodes:
		return nil, errors.New("want -nodes >= 1, -per-node >= 1 and -total >= -nodes")
	case cfg.rounds < 1 || cfg.rounds > maxSeq/2:
		return nil, fmt.Errorf("-rounds: want 1 to %d", maxSeq/2)
	case cfg.page < 1 || cfg.page > 1000:
		return nil, errors.New("-page: want 1 to 1000")
	case cfg.perIP < 1 || cfg.perClient < 1 || cfg.dialConc < 1:
		return nil, errors.New("want -per-ip, -per-client and -dial-concurrency >= 1")
	case cfg.srcFirst < 2 || cfg.srcFirst > 254:
		return nil, errors.New("-src-first: want 2 to 254")
	case cfg.timeout <= 0:
		return nil, errors.New("-timeout: want > 0")
	}
	return cfg, nil
}

// run runs the scenarios in order and returns the results of those that
// completed.
func run(ctx context.Context, cfg *config, progress io.Writer) ([]*result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to re-execute it: %w", err)
	}
	work, err := os.MkdirTemp("", "fleetbench-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	// The children's stderr and the progress lines share the writer.
	progress = &lockedWriter{w: progress}
	b := &bench{cfg: cfg, self: self, work: work, nextIP: cfg.srcFirst, progress: progress}
	var results []*result
	for _, s := range cfg.scenarios {
		var sc scenario
		switch s {
		case "single":
			sc = scenario{name: "single", conns: []int{cfg.total}}
		case "split":
			sc = scenario{name: "split", cluster: true, conns: split(cfg.total, cfg.nodes)}
		case "fleet":
			sc = scenario{name: "fleet", cluster: true, conns: split(cfg.perNode*cfg.nodes, cfg.nodes)}
		}
		r, err := b.run(ctx, sc)
		if err != nil {
			b.logf("work directory kept: %s", work)
			return results, fmt.Errorf("%s: %w", s, err)
		}
		results = append(results, r)
	}
	if cfg.keep {
		b.logf("work directory kept: %s", work)
	} else if err := os.RemoveAll(work); err != nil {
		return results, fmt.Errorf("removing the work directory: %w", err)
	}
	return results, nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// split divides total into n nearly equal parts.
func split(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}
