package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/protocol"
)

// webhook POSTs every message to a URL and sends a 200 answer's body back
// to the client (PRODUCT.md §2). Connect and close events are POSTed too;
// a non-2xx answer to connect refuses the handshake with that status.
//
// Bounds: every request has WebhookTimeout; at most WebhookMaxInFlight
// message requests are in flight per connection, and the connection's
// reading waits for a free slot (backpressure through TCP, not a queue);
// close events go through the daemon's bounded hook queue.
type webhook struct {
	d     *Daemon
	url   string
	route string
	logs  logThrottle
}

func newWebhook(d *Daemon, r Route) *webhook {
	return &webhook{d: d, url: r.Arg, route: r.Path}
}

// Header names of webhook requests.
const (
	hdrEvent       = "Wsd-Event"
	hdrConnID      = "Wsd-Connection-Id"
	hdrUser        = "Wsd-User"
	hdrRoute       = "Wsd-Route"
	hdrRemoteAddr  = "Wsd-Remote-Addr"
	hdrCloseCode   = "Wsd-Close-Code"
	hdrCloseReason = "Wsd-Close-Reason"
	hdrClosedBy    = "Wsd-Closed-By"
)

func (w *webhook) newRequest(ctx context.Context, c *conn, event string, body []byte, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook request: %w", err)
	}
	if event != "" {
		req.Header.Set(hdrEvent, event)
	}
	req.Header.Set(hdrConnID, c.sid)
	req.Header.Set(hdrUser, c.user)
	req.Header.Set(hdrRoute, c.route.Path)
	req.Header.Set(hdrRemoteAddr, c.remoteAddr)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

func (w *webhook) connect(c *conn, _ *http.Request) *rejection {
	ctx, cancel := context.WithTimeout(context.Background(), w.d.config().WebhookTimeout)
	defer cancel()
	req, err := w.newRequest(ctx, c, "connect", nil, "")
	if err != nil {
		return &rejection{status: http.StatusInternalServerError, reason: "webhook unavailable", metric: "webhook"}
	}
	start := time.Now()
	resp, err := w.do(c, hookConnect, req)
	if err != nil {
		w.warn("webhook connect event failed; handshake refused", c, "err", err, "elapsed", time.Since(start))
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		return &rejection{status: status, reason: "webhook unavailable", metric: "webhook"}
	}
	w.drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.d.log.Debug("webhook refused connection", "conn_id", c.sid, "route", w.route, "status", resp.StatusCode)
		return &rejection{status: resp.StatusCode, reason: "refused by the application", metric: "webhook_refused"}
	}
	return nil
}

func (w *webhook) opened(c *conn) {
	c.hook = make(chan struct{}, w.d.config().WebhookMaxInFlight)
}

func (w *webhook) message(c *conn, typ protocol.MessageType, p []byte) {
	c.hook <- struct{}{} // waits for a slot: bounded by WebhookTimeout
	data := clone(p)
	c.inFlight.Add(1)
	c.wg.Add(1) // serve's own goroutine: ordered before its final Wait
	go func() {
		defer c.wg.Done()
		defer func() { <-c.hook; c.inFlight.Add(-1) }()
		defer func() {
			if v := recover(); v != nil {
				c.d.stats.panics.Add(1)
				c.d.log.Error("webhook panic", "conn_id", c.sid, "panic", fmt.Sprint(v))
				c.closeInternal(fmt.Sprintf("webhook panic: %v", v))
			}
		}()
		w.deliver(c, typ, data)
	}()
}

// deliver POSTs one message and sends the answer back.
func (w *webhook) deliver(c *conn, typ protocol.MessageType, data []byte) {
	rc := w.d.config()
	ctx, cancel := context.WithTimeout(context.Background(), rc.WebhookTimeout)
	defer cancel()
	ct := "application/octet-stream"
	if typ == protocol.TextMessage {
		ct = "text/plain; charset=utf-8"
	}
	req, err := w.newRequest(ctx, c, "", data, ct)
	if err != nil {
		w.warn("webhook request failed", c, "err", err)
		return
	}
	start := time.Now()
	resp, err := w.do(c, hookMessage, req)
	if err != nil {
		w.d.stats.webhookFailures.Add(1)
		w.warn("webhook upstream failed; message not delivered", c, "err", err, "elapsed", time.Since(start).Round(time.Millisecond))
		return
	}
	defer w.drain(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return
	case resp.StatusCode != http.StatusOK:
		w.d.stats.webhookFailures.Add(1)
		w.warn("webhook upstream answered an error; message not delivered", c, "status", resp.StatusCode, "elapsed", time.Since(start).Round(time.Millisecond))
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, rc.MaxMessageSize+1))
	if err != nil {
		w.d.stats.webhookFailures.Add(1)
		w.d.met.webhookError(hookMessage, "bad_answer")
		w.warn("webhook answer unreadable; not sent", c, "err", err)
		return
	}
	if int64(len(body)) > rc.MaxMessageSize {
		w.d.stats.webhookFailures.Add(1)
		w.d.met.webhookError(hookMessage, "bad_answer")
		w.warn("webhook answer larger than max-message-size; not sent", c, "limit", rc.MaxMessageSize)
		return
	}
	kind := protocol.BinaryMessage
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && strings.HasPrefix(mt, "text/") {
		if !utf8.Valid(body) {
			w.d.met.webhookError(hookMessage, "bad_answer")
			w.warn("webhook text answer is not UTF-8; not sent", c)
			return
		}
		kind = protocol.TextMessage
	}
	c.enqueue(kind, body, time.Now())
}

func (w *webhook) closed(c *conn, cause closeCause) {
	w.d.hooks.post(hookEvent{w: w, c: c, cause: cause})
}

// sendClose POSTs the close event of c (on a hook worker).
func (w *webhook) sendClose(ctx context.Context, c *conn, cause closeCause) {
	ctx, cancel := context.WithTimeout(ctx, w.d.config().WebhookTimeout)
	defer cancel()
	req, err := w.newRequest(ctx, c, "close", nil, "")
	if err != nil {
		w.warn("webhook close event failed", c, "err", err)
		return
	}
	req.Header.Set(hdrCloseCode, strconv.Itoa(cause.code))
	req.Header.Set(hdrCloseReason, cause.reason)
	req.Header.Set(hdrClosedBy, string(cause.by))
	resp, err := w.do(c, hookClose, req)
	if err != nil {
		w.d.stats.webhookFailures.Add(1)
		w.warn("webhook close event failed", c, "err", err)
		return
	}
	w.drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.d.stats.webhookFailures.Add(1)
		w.warn("webhook close event answered an error", c, "status", resp.StatusCode)
	}
}

// warn logs an upstream failure, at most once a second per route, with the
// count of the lines it suppressed.
func (w *webhook) warn(msg string, c *conn, args ...any) {
	suppressed, ok := w.logs.allow(time.Now())
	if !ok {
		return
	}
	args = append([]any{"route", w.route, "url", w.url, "conn_id", c.sid}, args...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	w.d.log.Warn(msg, args...)
}

// drain reads what is left of a response body (bounded) so that the
// connection can be reused, and closes it. A failure only costs the
// transport that connection; it is logged at debug level.
func (w *webhook) drain(body io.ReadCloser) {
	_, rerr := io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	if err := errors.Join(rerr, body.Close()); err != nil {
		w.d.log.Debug("webhook response body", "route", w.route, "err", err)
	}
}

// logThrottle lets one log line through per second.
type logThrottle struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

func (t *logThrottle) allow(now time.Time) (int64, bool) {
	n := now.UnixNano()
	last := t.last.Load()
	if n-last < int64(time.Second) || !t.last.CompareAndSwap(last, n) {
		t.suppressed.Add(1)
		return 0, false
	}
	return t.suppressed.Swap(0), true
}

// hookEvent is a close event waiting for a hook worker.
type hookEvent struct {
	w     *webhook
	c     *conn
	cause closeCause
}

// hookDispatcher delivers webhook close events with a fixed number of
// workers from a bounded queue; when the queue is full the event is dropped,
// counted and logged (never a goroutine per event, never blocking a
// connection's end).
type hookDispatcher struct {
	log     *slog.Logger
	q       chan hookEvent
	dropped atomic.Uint64
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

const (
	hookQueue   = 4096
	hookWorkers = 8
)

func newHookDispatcher(log *slog.Logger) *hookDispatcher {
	h := &hookDispatcher{log: log, q: make(chan hookEvent, hookQueue)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for range hookWorkers {
		h.wg.Add(1)
		go h.work()
	}
	return h
}

func (h *hookDispatcher) post(e hookEvent) {
	select {
	case h.q <- e:
	default:
		if h.dropped.Add(1)%100 == 1 {
			h.log.Warn("webhook close events dropped: queue full", "dropped_total", h.dropped.Load())
		}
	}
}

func (h *hookDispatcher) work() {
	defer h.wg.Done()
	for e := range h.q {
		e.w.sendClose(h.ctx, e.c, e.cause)
	}
}

// stop delivers what is queued until ctx is done, then abandons the rest.
func (h *hookDispatcher) stop(ctx context.Context) error {
	close(h.q)
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel() // in-flight requests fail at once; workers drain the rest quickly
		<-done
		return fmt.Errorf("webhook close events: %w", ctx.Err())
	}
}
