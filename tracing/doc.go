// Package tracing names the spans and attributes wsd writes (attr.go),
// the frame modes of --trace-frames (frames.go), the HTTP middleware that
// traces the admin API (Middleware) and W3C Trace Context propagation
// (Extract, Inject). It depends on the OpenTelemetry API only, never on
// the SDK or an exporter, so that the daemon, which builds the spans of
// sessions (daemon/trace.go) with the names defined here, links neither
// gRPC nor the SDK. The SDK, the OTLP exporters and their configuration
// from the OTEL_* variables are in package tracing/setup, which only
// cmd/wsd imports; it hands the daemon and the admin API a
// trace.TracerProvider.
//
// Tracing off means a no-op TracerProvider, which the daemon recognises
// (IsNoop) and then never starts a span or installs a frame hook: tracing
// off costs nil checks.
//
// Nothing here has state of its own: the package is safe for concurrent
// use, and Middleware's handler is too.
//
// # Span design
//
// The operator's question is "what happened to connection X?", asked while
// X is still open as often as after it closed. A session lasts minutes or
// days, and a span is exported only when it ends, so one span covering the
// session (the obvious design) would leave Jaeger empty until the close.
// Instead a session is one trace made of short spans, each exported soon
// after it happens, all carrying ws.connection.id so that one Jaeger tag
// search finds them all:
//
//   - websocket.upgrade (server span): the opening handshake, from accept to
//     the 101 (or to the refusal, with its status and error.type). It is
//     the session's first span and ends within milliseconds, so Jaeger
//     shows the session about a second after it opens. Its parent is the
//     client's traceparent (header, or traceparent query parameter for
//     browsers, which cannot set headers on a WebSocket handshake): a
//     page's trace continues into its session. Attributes: http.request.method,
//     url.path (never the query, which may carry an access token),
//     url.scheme, network.peer.address and .port, client.address (behind a
//     trusted proxy), user_agent.original, http.request.header.origin,
//     http.route, ws.handler, user.id, http.response.status_code,
//     websocket.subprotocol and websocket.extensions. Connections refused
//     before their request is read (draining, --max-connections, the
//     per-IP limit, --handshake-rate) get no span on purpose: they are what
//     a flood is made of, and a span each would pass the flood on to the
//     collector. wsd_handshake_failures_total{reason} counts them.
//   - websocket.frames: a segment of the session's frames, each frame an
//     event (websocket.frame) with network.io.direction (receive/transmit),
//     websocket.opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong, 0
//     continuation), websocket.flags (the header bits set among FIN, RSV1-3
//     and MASK, e.g. "fin rsv1 masked") and websocket.payload_length, plus
//     websocket.close.code and .reason on close frames. Which frames: --trace-frames none, control (ping, pong,
//     close) or all. A segment ends after 100 frames or when it is a second
//     old (the daemon's keepalive scanner ends it: no timer per
//     connection), so frames reach Jaeger while the session runs. Events
//     rather than a span per frame: an event costs an append to the open
//     segment, a span costs a queue slot and an export of its own, and
//     the "all" mode must stay within twice the untraced CPU. For the same
//     reason an event has four attributes (the header bits as one flags
//     string): converting and exporting costs about a microsecond per
//     attribute; a frame event costs 6 to 7 µs of CPU in all, export and
//     garbage collection included (BenchmarkFrameEvent; nine attributes
//     cost 14 µs).
//   - websocket.send: a message queued by the admin API for this session
//     (a send, or one recipient of a broadcast), linked to the admin
//     request's span (or the broadcast's).
//   - webhook connect / message / close (client spans): the session's
//     webhook requests, which carry traceparent, so that the application
//     continues the session's trace.
//   - websocket.session and, under it, websocket.close: written when the
//     session ends. websocket.session spans the whole session (start =
//     upgrade) with its totals (ws.messages_in/out, ws.bytes_in/out);
//     websocket.close spans the closing (from the first close frame, or
//     the daemon's decision, to the end) with websocket.close.code,
//     websocket.close.reason, ws.closed_by (a session.ClosedBy value:
//     client, server, admin, idle_timeout, slow_consumer, protocol_error,
//     shutdown, token_expired) and ws.close.error; it links to the admin request
//     that closed the session, if one did. Abnormal closes (1006, 1011,
//     protocol errors, pong timeouts, ...) set the error status.
//
// All of them are children of websocket.upgrade, which is the session
// trace's local root (sampling is decided there, once per session: a
// session is traced whole or not at all).
//
// A broadcast through the admin API is one websocket.broadcast span, under
// the admin request's span, with ws.broadcast.matched, .queued and
// .dropped. It links to the websocket.send spans it caused in the
// recipients' session traces, and each of those links back; links and
// send spans are bounded (64 per broadcast, the rest counted in
// ws.broadcast.links_omitted), so a broadcast to 10,000 connections does
// not become 10,000 spans. The admin API's own requests are server spans
// named "METHOD route" (Middleware).
//
// # Cost
//
// Measured with cmd/wsd's TestMeasureTraceCPU: server CPU per echoed
// message (64 connections, 1 KiB messages at 5,000 per second in total,
// every session sampled, exporting over OTLP/HTTP to the real Jaeger),
// median of 5 rounds on a shared 2-core machine whose load average was 6
// to 11 during the run (run-to-run noise about ±10%):
//
//	wsd before tracing existed   29.4 µs
//	tracing off                  30.3 µs  (1.03× the above: within the noise)
//	--trace-frames=control       30.9 µs  (1.02× off)
//	--trace-frames=all           49.2 µs  (1.62× off; at saturation, 2.5×)
//
// Off costs nil checks: no span, no frame hook, nothing per message. With
// control, a session costs its upgrade, session and close spans. With
// all, each frame costs about 6 µs of CPU (BenchmarkFrameEvent), most of
// it in the OTLP exporter converting and marshalling the event's
// attributes; an echo is two frames. At saturation (closed-loop clients)
// the traced daemon serves fewer messages per second and so batches
// fewer per system call, which is where 2.5× comes from.
//
// Attribute names follow the OpenTelemetry semantic conventions (v1.43.0)
// where they have one; wsd's own concepts use ws.*, and RFC 6455 wire
// facts websocket.* (there is no WebSocket convention yet).
package tracing
