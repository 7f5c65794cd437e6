package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
)

// roleEnv selects what a re-executed copy of the program (or of its test
// binary) does: "client" or "nats". Empty: the coordinator.
const roleEnv = "FLEETBENCH_ROLE"

// maxSeq bounds the broadcast sequence numbers a client counts.
const maxSeq = 1000

// runRole runs the role named by roleEnv with args; ok is false when no
// role is set.
func runRole(args []string) (ok bool, err error) {
	switch r := os.Getenv(roleEnv); r {
	case "":
		return false, nil
	case "client":
		return true, runClient(args, os.Stdin, os.Stdout)
	case "nats":
		return true, runNATS(os.Stdin, os.Stdout)
	default:
		return true, fmt.Errorf("%s=%q: want client or nats", roleEnv, r)
	}
}

// runNATS serves an embedded NATS server on a free loopback port, prints
// its client URL and stops when stdin closes.
func runNATS(stdin io.Reader, stdout io.Writer) error {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	go ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("nats: not ready after 10s")
	}
	if _, err := fmt.Fprintln(stdout, ns.ClientURL()); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	if _, err := io.Copy(io.Discard, stdin); err != nil {
		return fmt.Errorf("nats: stdin: %w", err)
	}
	return nil
}

// lineWriter writes whole lines to the coordinator, one at a time.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", a...)
	if err := l.w.Flush(); err != nil {
		// The coordinator is gone: nothing is left to report to.
		fmt.Fprintf(os.Stderr, "client: stdout: %v\n", err)
	}
}

// runClient opens -n WebSocket connections to -url, each from one of the
// -src loopback addresses (-per-ip connections per address), and only
// reads. It prints to stdout, one line each:
//
//	ready N MS           all N connections are open (after MS milliseconds)
//	got SEQ UNIXNANO     every connection has received the broadcast "SEQ ..."
//	lost COUNT ERROR     a connection ended before stdin closed (first time)
//
// When stdin closes it closes its connections and returns.
func runClient(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	url := fs.String("url", "", "WebSocket URL")
	n := fs.Int("n", 0, "connections")
	src := fs.String("src", "", "source addresses, comma-separated")
	perIP := fs.Int("per-ip", 2000, "connections per source address")
	conc := fs.Int("dial-concurrency", 64, "handshakes in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ips := strings.Split(*src, ",")
	if *url == "" || *n <= 0 || *perIP <= 0 || *conc <= 0 || len(ips)*(*perIP) < *n {
		return fmt.Errorf("client: want -url, -n > 0 and enough -src addresses for -n at -per-ip (got %d addresses)", len(ips))
	}
	out := &lineWriter{w: bufio.NewWriter(stdout)}

	var (
		counts   [maxSeq]atomic.Int64
		stopping atomic.Bool
		lost     atomic.Int64
		readers  sync.WaitGroup
		mu       sync.Mutex
		conns    = make([]*websocket.Conn, 0, *n)
	)
	read := func(c *websocket.Conn) {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				if !stopping.Load() && lost.Add(1) == 1 {
					out.printf("lost 1 %s", strings.ReplaceAll(err.Error(), "\n", " "))
				}
				return
			}
			seq, _, _ := strings.Cut(string(p), " ")
			k, err := strconv.Atoi(seq)
			if err != nil || k < 0 || k >= maxSeq {
				continue
			}
			if counts[k].Add(1) == int64(*n) {
				out.printf("got %d %d", k, time.Now().UnixNano())
			}
		}
	}
	closeAll := func() {
		stopping.Store(true)
		mu.Lock()
		for _, c := range conns {
			// The connection may already be gone: nothing to report.
			_ = c.Close()
		}
		mu.Unlock()
		readers.Wait()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	sem := make(chan struct{}, *conc)
	var (
		dialers sync.WaitGroup
		errOnce sync.Once
		dialErr error
	)
	for i := range *n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		ip := ips[i / *perIP]
		dialers.Go(func() {
			defer func() { <-sem }()
			c, err := dial(ctx, *url, ip)
			if err != nil {
				errOnce.Do(func() { dialErr = err; cancel() })
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			readers.Go(func() { read(c) })
		})
	}
	dialers.Wait()
	if dialErr != nil {
		closeAll()
		return fmt.Errorf("client: %d of %d connections open: %w", len(conns), *n, dialErr)
	}
	out.printf("ready %d %d", *n, time.Since(start).Milliseconds())
	_, err := io.Copy(io.Discard, stdin)
	closeAll()
	if err != nil {
		return fmt.Errorf("client: stdin: %w", err)
	}
	return nil
}

// dial opens one connection from source address ip, retrying a refused
// handshake (or an address in use) a few times.
func dial(ctx context.Context, url, ip string) (*websocket.Conn, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 30 * time.Second}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   512,
		WriteBufferSize:  256,
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("dial from %s: %w (after %v)", ip, ctx.Err(), err)
			case <-t.C:
			}
		}
		c, r, derr := d.DialContext(ctx, url, nil)
		status := ""
		if r != nil {
			status = fmt.Sprintf(" (HTTP %d)", r.StatusCode)
			_ = r.Body.Close() // the handshake's body is empty or already read
		}
		if derr == nil {
			return c, nil
		}
		err = fmt.Errorf("dial %s from %s: %w%s", url, ip, derr, status)
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}
