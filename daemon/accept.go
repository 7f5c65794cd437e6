package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// Serve accepts WebSocket connections on ln until ln is closed (Shutdown
// closes every listener given to Serve) or ctx is done. It returns nil after
// a shutdown. Temporary accept errors (EMFILE) are retried with backoff
// rather than spun on.
func (d *Daemon) Serve(ctx context.Context, ln net.Listener) error {
	if !d.trackListener(ln, true) {
		return errors.Join(session.ErrDraining, closeListener(ln))
	}
	defer d.trackListener(ln, false)
	stop := context.AfterFunc(ctx, func() {
		if err := closeListener(ln); err != nil {
			d.log.Warn("close listener", "addr", ln.Addr().String(), "err", err)
		}
	})
	defer stop()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if d.draining.Load() || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				d.log.Warn("accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		d.connWG.Add(1)
		d.workers.run(task{nc: nc})
	}
}

// isTemporary reports errors such as EMFILE and ECONNABORTED that a
// listener survives.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func closeListener(ln net.Listener) error {
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// admission is what a connection holds before and after its handshake: a
// place under MaxConnections and, unless unlimited, a per-IP slot. release
// gives back whatever is held, once.
type admission struct {
	d      *Daemon
	placed bool
	ip     ipKey
	hasIP  bool
}

func (a *admission) release() {
	if a.placed {
		a.d.admitted.Add(-1)
		a.placed = false
	}
	if a.hasIP {
		a.d.ips.release(a.ip)
		a.hasIP = false
	}
}

// admitIP applies the per-IP connection limit and handshake rate to ip.
func (d *Daemon) admitIP(a *admission, ip ipKey, rc *runtimeConfig, now time.Time) *rejection {
	if ok, wait := d.ips.allow(ip, rc.HandshakeRate, rc.HandshakeBurst, now); !ok {
		return &rejection{status: http.StatusTooManyRequests, reason: "handshake rate exceeded for " + ip.String(), metric: "rate_limited", retryAfter: wait}
	}
	if !d.ips.acquire(ip, rc.MaxConnectionsPerIP) {
		return &rejection{status: http.StatusServiceUnavailable, reason: "too many connections from " + ip.String(), metric: "max_connections_per_ip", retryAfter: time.Second}
	}
	a.ip, a.hasIP = ip, true
	return nil
}

// serveConn runs one accepted TCP connection: the opening handshake, then
// the WebSocket connection itself, on this goroutine (a pool worker's)
// until it parks.
func (d *Daemon) serveConn(nc net.Conn) {
	if c := d.handshake(nc); c != nil {
		c.serve(false) // parks at once unless input is already there
	}
}

// handshake runs admission and the opening handshake of an accepted TCP
// connection and returns the registered WebSocket connection, or nil when
// it was refused or failed. Serve counted it in connWG; the connection
// adds its own count.
func (d *Daemon) handshake(nc net.Conn) *conn {
	defer d.connWG.Done()
	rc := d.config()
	start := time.Now()
	a := &admission{d: d}
	defer a.release() // unless handed to the connection
	defer d.trackHandshake(nc, false)

	// Admission, cheapest refusal first: draining, then the peer's own
	// limits (per-IP handshake rate and connections), and only then a
	// place under MaxConnections, so that one address cannot take every
	// place with sockets that will be refused anyway. A socket refused
	// here holds no place: its answer is written and it is closed at once.
	if !d.trackHandshake(nc, true) {
		d.refuse(nc, &rejection{status: http.StatusServiceUnavailable, reason: "server is shutting down", metric: "draining", retryAfter: time.Second})
		return nil
	}
	if d.cordoned.Load() {
		rej := cordonRejection
		d.refuse(nc, &rej)
		return nil
	}
	peer := addrIP(nc.RemoteAddr())
	fromProxy := trusted(rc.TrustedProxies, peer)
	if !fromProxy {
		if rej := d.admitIP(a, peer, rc, start); rej != nil {
			d.refuse(nc, rej)
			return nil
		}
	}
	if d.admitted.Add(1) > int64(rc.MaxConnections) {
		d.admitted.Add(-1)
		a.release()
		d.refuse(nc, &rejection{status: http.StatusServiceUnavailable, reason: "too many connections", metric: "max_connections", retryAfter: time.Second})
		return nil
	}
	a.placed = true

	// The head must come within the handshake timeout (slowloris).
	if err := nc.SetDeadline(start.Add(rc.HandshakeTimeout)); err != nil {
		d.handshakeFailed(nc, "io", err)
		return nil
	}
	hr := headReaders.Get().(*protocol.HeadReader)
	hr.Reset(nc, rc.MaxHeaderBytes)
	req, err := hr.ReadRequest()
	if err != nil {
		putHeadReader(hr)
		var herr *protocol.HandshakeError
		switch {
		case errors.Is(err, protocol.ErrHeadTooLarge):
			d.answer(nc, &rejection{status: http.StatusRequestHeaderFieldsTooLarge, reason: "request head too large", metric: "head_too_large"})
		case isTimeout(err):
			// Also in the middle of a header line: a slowloris, not a
			// malformed request, and not worth an answer.
			d.handshakeFailed(nc, "timeout", err)
		case errors.As(err, &herr):
			d.answer(nc, &rejection{status: http.StatusBadRequest, reason: "malformed HTTP request", metric: "bad_request"})
		default:
			d.handshakeFailed(nc, "io", err)
		}
		return nil
	}
	// Bytes the client sent after the head (its first frames) go first.
	lr := newLazyReader(nc, rawConn(nc))
	br := hr.Reader()
	ahead, _ := br.Peek(br.Buffered())
	lr.seed(ahead)
	putHeadReader(hr)

	remote := addrString(nc.RemoteAddr())
	if fromProxy {
		client := peer
		if ip, ok := forwardedFor(req.Header.Values("X-Forwarded-For"), rc.TrustedProxies); ok {
			client = ip
			remote = ip.String()
		}
		if rej := d.admitIP(a, client, rc, start); rej != nil {
			d.answer(nc, rej)
			return nil
		}
	}
	up := d.startUpgrade(req, nc, remote, start) // nil unless traced
	c, rej := d.prepare(req, rc, start, remote, up)
	if rej != nil {
		up.refused(rej)
		d.answer(nc, rej)
		return nil
	}
	c.lr = lr
	// The protocol's reader and writer, in one allocation: the reader's
	// buffer is the smallest bufio allows (lr buffers), the writer's holds
	// a control frame (the sender batches).
	pb := new(protoBufs)
	pb.r = *bufio.NewReaderSize(lr, 16)
	pb.w = *bufio.NewWriterSize(&c.snd, rc.WriteBufferSize)
	c.br = &pb.r
	c.snd.Init(nc, lr.rc, &d.sendLimits, c)
	c.ip = a.ip

	opts := d.acceptOptions(c, rc)
	rw := bufio.NewReadWriter(&pb.r, &pb.w)
	ws, err := protocol.Upgrade(nc, rw, req, opts)
	if err != nil {
		var herr *protocol.HandshakeError
		if errors.As(err, &herr) {
			// Upgrade has written the refusal.
			d.stats.handshakeFailed("protocol")
			up.refused(&rejection{status: herr.Status, reason: herr.Reason, metric: "protocol"})
			d.log.Debug("handshake refused", "remote_addr", remote, "path", req.URL.Path, "status", herr.Status, "reason", herr.Reason)
			d.closeRaw(nc)
			return nil
		}
		up.failed("io", err)
		d.handshakeFailed(nc, "io", err)
		return nil
	}
	d.trackHandshake(nc, false) // from here on Shutdown finds it in the hub
	// Only the read deadline goes: the write deadline is the sender's,
	// set when it wrote the 101 (internal/sender moves it only when half
	// of it is used up, so clearing it here would leave the first writes
	// of a client that never reads without any bound).
	if err := nc.SetReadDeadline(time.Time{}); err != nil {
		up.failed("io", err)
		d.handshakeFailed(nc, "io", errors.Join(err, ws.CloseNow()))
		return nil
	}
	c.ws = ws
	c.snd.Attach(ws)
	up.accepted(ws)
	d.met.handshake(time.Since(start))
	a.placed, a.hasIP = false, false // the connection releases them (unregister)
	d.register(c)
	d.connWG.Add(1)
	return c
}

// protoBufs are the bufio.Reader and bufio.Writer a connection gives the
// protocol, allocated together (their buffers are allocated by bufio).
type protoBufs struct {
	r bufio.Reader
	w bufio.Writer
}

// prepare checks the request against the routes and the authenticator and
// builds the connection's identity; the webhook route's connect event runs
// here, before the upgrade.
func (d *Daemon) prepare(req *http.Request, rc *runtimeConfig, now time.Time, remote string, up *upgradeTrace) (*conn, *rejection) {
	rt := rc.match(req.URL.Path)
	if rt == nil {
		return nil, &rejection{status: http.StatusNotFound, reason: "no route for " + req.URL.Path, metric: "no_route"}
	}
	id := d.ids.newID(now)
	c := &conn{
		d:           d,
		route:       rt,
		id:          id,
		sid:         id.String(),
		remoteAddr:  remote,
		origin:      req.Header.Get("Origin"),
		userAgent:   req.Header.Get("User-Agent"),
		connectedAt: now.UnixNano(),
	}
	var tokenLabels map[string]string
	if d.auth != nil {
		ident, err := d.auth.AuthenticateClient(req)
		if err != nil {
			return nil, &rejection{status: http.StatusUnauthorized, reason: "unauthorized: " + err.Error(), metric: "unauthorized"}
		}
		c.user, tokenLabels = ident.User, ident.Labels
		if !ident.ExpiresAt.IsZero() {
			c.expiresAt = ident.ExpiresAt.UnixNano()
		}
	}
	var query url.Values
	if len(rc.LabelsFromQuery) > 0 {
		query = req.URL.Query() // parsed only when a parameter may become a label
	}
	c.labels = buildLabels(rt.Labels, query, rc.LabelsFromQuery, tokenLabels)
	c.tr = up.session(c, rc)
	if rej := rt.h.connect(c, req); rej != nil {
		return nil, rej
	}
	return c, nil
}

// buildLabels merges a connection's labels; later sources win: the route's
// static labels, then allowed query parameters, then the token's (trusted)
// labels. It returns nil when there are none.
func buildLabels(static map[string]string, query map[string][]string, allowed []string, token map[string]string) map[string]string {
	var m map[string]string
	set := func(k, v string) {
		if m == nil {
			m = make(map[string]string, len(static)+len(allowed)+len(token))
		}
		m[k] = v
	}
	for k, v := range static {
		set(k, v)
	}
	for _, k := range allowed {
		if vs, ok := query[k]; ok && len(vs) > 0 {
			set(k, vs[0])
		}
	}
	for k, v := range token {
		set(k, v)
	}
	return m
}

func (d *Daemon) acceptOptions(c *conn, rc *runtimeConfig) *protocol.AcceptOptions {
	return &protocol.AcceptOptions{
		Options: protocol.Options{
			ReadLimit:       rc.MaxMessageSize,
			MaxFrameSize:    rc.MaxFrameSize,
			CloseTimeout:    rc.CloseTimeout,
			ReadBufferSize:  16,
			WriteBufferSize: rc.WriteBufferSize,
			// The connection itself: the black box, traced frames and
			// pongs' round trips, with no func allocated per connection.
			Hooks: c,
			// Broadcast frames go straight to the sender, past the
			// protocol's small buffer.
			FrameWriter: &c.snd,
			// Keepalive pongs end a read, so that an idle connection
			// parks again (see conn.read).
			YieldAfterControl: true,
			Buffers:           bufpool.Large(),
		},
		Subprotocols:   rc.Subprotocols,
		OriginPatterns: rc.AllowedOrigins,
		Compression:    rc.compression,
	}
}

// register records an upgraded connection and adds it to the hub.
func (d *Daemon) register(c *conn) {
	d.rec.RecordOpen(session.Open{
		ID:          c.sid,
		Route:       c.route.Path,
		RemoteAddr:  c.remoteAddr,
		User:        c.user,
		Labels:      c.labels,
		Origin:      c.origin,
		UserAgent:   c.userAgent,
		Subprotocol: c.ws.Subprotocol(),
		Extensions:  c.ws.Extensions(),
		ConnectedAt: time.Unix(0, c.connectedAt),
		TraceID:     c.tr.traceID(),
	})
	d.stats.accepted.Add(1)
	if !d.hub.add(c) {
		// Draining began during the handshake.
		c.initClose(closeCause{by: session.ClosedByShutdown, code: int(protocol.StatusGoingAway), reason: "going away"})
		return
	}
	c.route.h.opened(c)
	d.events.publishConnect(c)
}

// unregister removes a finished connection from the hub and gives back
// its admission.
func (d *Daemon) unregister(c *conn) {
	d.hub.remove(c)
	d.admitted.Add(-1)
	if c.ip.IsValid() {
		d.ips.release(c.ip)
	}
}

// headReaders pools the readers of request heads: only connections in
// their handshake hold one.
var headReaders = sync.Pool{New: func() any { return protocol.NewHeadReader(handshakeBufSize) }}

const handshakeBufSize = 4096

func putHeadReader(h *protocol.HeadReader) {
	h.Reset(nil, 0)
	headReaders.Put(h)
}
