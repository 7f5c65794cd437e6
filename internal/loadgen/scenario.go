package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

func (r *run) echo(ctx context.Context, lat *latencies) error {
	conns, err := r.openAll(ctx, r.cfg.Conns, false, &latencies{})
	if err != nil {
		return err
	}
	defer closeAll(conns)
	defer r.end()
	r.ops.Store(0)
	r.begin()
	end := time.Now().Add(r.cfg.Duration)
	t := r.timer(r.cfg.Duration)
	defer t.Stop()
	stopCtx := context.AfterFunc(ctx, func() { r.stop.Store(true) })
	defer stopCtx()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range conns {
		// A server that stops answering cannot hold the run past its end.
		if err := c.SetReadDeadline(end.Add(5 * time.Second)); err != nil {
			return err
		}
		if err := c.SetWriteDeadline(end.Add(5 * time.Second)); err != nil {
			return err
		}
		wg.Go(func() {
			var l latencies
			if r.cfg.Pipeline == 1 {
				r.echoClosed(c, &l)
			} else {
				r.echoPipelined(c, &l)
			}
			mu.Lock()
			lat.merge(&l)
			mu.Unlock()
		})
	}
	wg.Wait()
	return nil
}

func (r *run) echoClosed(c *protocol.Conn, l *latencies) {
	ctx := context.Background()
	var buf []byte
	for r.claim() {
		t0 := time.Now()
		if err := c.Write(ctx, r.typ, r.payload); err != nil {
			r.fail(err)
			return
		}
		var err error
		if _, buf, err = c.ReadInto(ctx, buf); err != nil {
			r.fail(err)
			return
		}
		l.record(time.Since(t0))
		r.ops.Add(1)
	}
}

func (r *run) echoPipelined(c *protocol.Conn, l *latencies) {
	ctx := context.Background()
	inflight := make(chan time.Time, r.cfg.Pipeline)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(inflight)
		for r.claim() {
			inflight <- time.Now()
			if err := c.Write(ctx, r.typ, r.payload); err != nil {
				r.fail(err)
				return
			}
		}
	})
	defer wg.Wait()
	var buf []byte
	for t0 := range inflight {
		var err error
		if _, buf, err = c.ReadInto(ctx, buf); err != nil {
			r.fail(err)
			// Unblock the writer; it stops on its next write error.
			c.CloseNow()
			for range inflight {
			}
			return
		}
		l.record(time.Since(t0))
		r.ops.Add(1)
	}
}

func (r *run) idle(ctx context.Context, lat *latencies) error {
	r.begin()
	t0 := time.Now()
	conns, err := r.openAll(ctx, r.cfg.Conns, true, lat)
	r.openTime = time.Since(t0)
	if err != nil {
		return err
	}
	// Readers answer pings and notice closes by the server.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { r.drain(c, nil) })
	}
	hold := time.NewTimer(r.cfg.Duration)
	select {
	case <-hold.C:
	case <-ctx.Done():
		hold.Stop()
	}
	r.end()
	r.stop.Store(true)
	closeAll(conns)
	wg.Wait()
	return nil
}

// drain reads until the connection ends, calling got for each message.
// A close we started is not an error.
func (r *run) drain(c *protocol.Conn, got func([]byte)) {
	var buf []byte
	for {
		var err error
		_, buf, err = c.ReadInto(context.Background(), buf)
		if err != nil {
			var ce *protocol.CloseError
			if !r.stop.Load() && !errors.As(err, &ce) {
				r.fail(err)
			}
			return
		}
		if got != nil {
			got(buf)
		}
	}
}

func (r *run) churn(ctx context.Context, lat *latencies) error {
	r.begin()
	t := r.timer(r.cfg.Duration)
	defer t.Stop()
	stopCtx := context.AfterFunc(ctx, func() { r.stop.Store(true) })
	defer stopCtx()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range r.cfg.Conns {
		wg.Go(func() {
			var l latencies
			for r.claim() {
				c, took, refused, err := r.dialRetry(ctx)
				if refused {
					break // the run is over for this worker
				}
				if err != nil {
					r.fail(err)
					continue
				}
				l.record(took)
				if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
					r.fail(err)
					continue
				}
				r.ops.Add(1)
			}
			mu.Lock()
			lat.merge(&l)
			mu.Unlock()
		})
	}
	wg.Wait()
	return nil
}

// broadcastWait bounds the wait for every receiver to get one broadcast.
const broadcastWait = 10 * time.Second

// broadcast opens the receivers, then sends Count broadcasts one after the
// other through cfg.Broadcast, each after the previous one reached every
// receiver. It returns the number of messages received.
func (r *run) broadcast(ctx context.Context, lat *latencies) (int64, error) {
	conns, err := r.openAll(ctx, r.cfg.Conns, false, &latencies{})
	if err != nil {
		return 0, err
	}
	r.ops.Store(0)
	var (
		got        atomic.Int64
		deliveries atomic.Int64
		target     = int64(len(conns))
		all        = make(chan struct{}, 1)
		wg         sync.WaitGroup
	)
	for _, c := range conns {
		wg.Go(func() {
			r.drain(c, func(p []byte) {
				deliveries.Add(1)
				if got.Add(1) == target {
					all <- struct{}{}
				}
			})
		})
	}
	defer func() {
		r.end()
		r.stop.Store(true)
		closeAll(conns)
		wg.Wait()
	}()
	r.begin()
	deadline := time.Now().Add(r.cfg.Duration)
	wait := time.NewTimer(broadcastWait)
	defer wait.Stop()
	for r.claim() && time.Now().Before(deadline) {
		got.Store(0)
		t0 := time.Now()
		queued, err := r.cfg.Broadcast(ctx, r.payload)
		if err != nil {
			return deliveries.Load(), fmt.Errorf("broadcast: %w", err)
		}
		if queued < target {
			return deliveries.Load(), fmt.Errorf("broadcast: queued for %d connections of the %d receivers", queued, target)
		}
		wait.Reset(broadcastWait)
		select {
		case <-all:
		case <-wait.C:
			return deliveries.Load(), fmt.Errorf("broadcast: %d of %d receivers got the message within %v", got.Load(), target, broadcastWait)
		case <-ctx.Done():
			return deliveries.Load(), ctx.Err()
		}
		lat.record(time.Since(t0))
		r.ops.Add(1)
	}
	return deliveries.Load(), nil
}
