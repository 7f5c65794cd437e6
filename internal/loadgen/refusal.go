package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// A server that refuses a handshake for now (429 Too Many Requests, 503
// Service Unavailable) says when to come back with Retry-After. A run
// honours it: the refused dial waits that long (with a little jitter, at
// most maxBackoff) and tries again, while the run lasts. Refusals are
// counted apart from errors (Result.Refused), so that a rate-limited run
// does not report thousands of failures of its own making.

const (
	// defaultBackoff is the wait after a refusal without Retry-After.
	defaultBackoff = time.Second
	// maxBackoff caps one wait, whatever Retry-After says.
	maxBackoff = 10 * time.Second
)

// refusal returns the server's answer if err is a refused handshake (429
// or 503) and how long to wait before the next try.
func refusal(err error, now time.Time) (resp *http.Response, wait time.Duration, ok bool) {
	var de *protocol.DialError
	if !errors.As(err, &de) || de.Response == nil {
		return nil, 0, false
	}
	switch de.Response.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		return nil, 0, false
	}
	return de.Response, retryAfter(de.Response.Header.Get("Retry-After"), now), true
}

// retryAfter parses Retry-After: delay seconds or an HTTP date; absent or
// malformed means defaultBackoff. The wait is capped at maxBackoff.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	d := defaultBackoff
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxBackoff)
}

// refused counts a refused handshake and keeps the first one's answer:
// status, body (the server's reason) and Retry-After.
func (r *run) refused(resp *http.Response) {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		r.refused429.Add(1)
	default:
		r.refused503.Add(1)
	}
	if r.firstRefusal.Load() != nil {
		return
	}
	msg := resp.Status
	if resp.Body != nil {
		// Dial left at most 1 KiB of the body in memory.
		if b, err := io.ReadAll(resp.Body); err == nil && len(bytes.TrimSpace(b)) > 0 {
			msg += ": " + string(bytes.TrimSpace(b))
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		msg += " (Retry-After " + ra + ")"
	}
	r.firstRefusal.CompareAndSwap(nil, &msg)
}

// dialRetry dials, and after a refusal waits as the server asks and tries
// again, while the run goes on and the wait ends before retryUntil. took
// is the successful handshake's time. Its error is a refusal (refused
// true: already counted, not an error of the run) or another failure.
func (r *run) dialRetry(ctx context.Context) (c *protocol.Conn, took time.Duration, refused bool, err error) {
	for {
		t0 := time.Now()
		c, err = r.dial(ctx)
		if err == nil {
			r.handshakes.Add(1)
			return c, time.Since(t0), false, nil
		}
		now := time.Now()
		resp, wait, ok := refusal(err, now)
		if !ok {
			return nil, 0, false, err
		}
		r.refused(resp)
		// Jitter spreads the retries of many workers refused at once.
		wait += rand.N(wait/5 + time.Millisecond)
		if r.stop.Load() || ctx.Err() != nil || now.Add(wait).After(r.retryUntil) {
			return nil, 0, true, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, 0, true, err
		}
	}
}
