package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Span names. They are stable: dashboards and saved Jaeger searches use
// them.
const (
	SpanUpgrade   = "websocket.upgrade"   // the opening handshake; the session's first span
	SpanFrames    = "websocket.frames"    // a segment of the session's frames, as events
	SpanSession   = "websocket.session"   // the whole session, written when it ends
	SpanClose     = "websocket.close"     // the closing of the session
	SpanSend      = "websocket.send"      // a message queued by the admin API
	SpanBroadcast = "websocket.broadcast" // a broadcast through the admin API
	SpanWebhook   = "webhook"             // prefix of the webhook client spans: "webhook connect", ...
	EventFrame    = "websocket.frame"     // one frame, on a websocket.frames span
	// SpanOnDemand starts tracing a connection on demand (`wsctl trace`).
	// The SDK's sampler (tracing/setup) samples it and every span under it
	// whatever it is configured to do, marking them with
	// TraceStateOnDemand in their trace state.
	SpanOnDemand = "websocket.trace_on_demand"
)

// Attribute keys of wsd's own concepts (ws.*) and of RFC 6455 wire-level
// facts (websocket.*). Where OpenTelemetry's semantic conventions have a
// name, it is used instead (see the Sem* keys below).
const (
	// ConnectionID is on every span of a session, so that a Jaeger tag
	// search for it finds the whole session.
	ConnectionID = attribute.Key("ws.connection.id")
	Handler      = attribute.Key("ws.handler")
	ClosedBy     = attribute.Key("ws.closed_by")
	CloseError   = attribute.Key("ws.close.error")
	MessagesIn   = attribute.Key("ws.messages_in")
	MessagesOut  = attribute.Key("ws.messages_out")
	BytesIn      = attribute.Key("ws.bytes_in")
	BytesOut     = attribute.Key("ws.bytes_out")
	SegmentIndex = attribute.Key("ws.segment.index")
	SegmentCount = attribute.Key("ws.segment.frames")
	SendResult   = attribute.Key("ws.send.result") // queued, closing, slow_consumer
	Matched      = attribute.Key("ws.broadcast.matched")
	Queued       = attribute.Key("ws.broadcast.queued")
	Dropped      = attribute.Key("ws.broadcast.dropped")
	LinksOmitted = attribute.Key("ws.broadcast.links_omitted")
	WebhookEvent = attribute.Key("ws.webhook.event") // connect, message, close

	Opcode        = attribute.Key("websocket.opcode") // RFC 6455 §5.2: 1 text, 2 binary, 8 close, 9 ping, 10 pong
	Flags         = attribute.Key("websocket.flags")  // the header bits set: "fin rsv1 masked" (FrameFlags)
	PayloadLength = attribute.Key("websocket.payload_length")
	CloseCode     = attribute.Key("websocket.close.code")
	CloseReason   = attribute.Key("websocket.close.reason")
	Subprotocol   = attribute.Key("websocket.subprotocol")
	Extensions    = attribute.Key("websocket.extensions")
	MessageType   = attribute.Key("websocket.message.type") // text or binary
	MessageSize   = attribute.Key("websocket.message.size")
)

// Semantic-convention keys used by wsd (OpenTelemetry semconv v1.43.0).
const (
	SemNetworkPeerAddress  = semconv.NetworkPeerAddressKey
	SemNetworkPeerPort     = semconv.NetworkPeerPortKey
	SemNetworkIODirection  = semconv.NetworkIODirectionKey // receive or transmit
	SemClientAddress       = semconv.ClientAddressKey
	SemURLPath             = semconv.URLPathKey
	SemURLScheme           = semconv.URLSchemeKey
	SemURLFull             = semconv.URLFullKey
	SemServerAddress       = semconv.ServerAddressKey
	SemUserAgentOriginal   = semconv.UserAgentOriginalKey
	SemHTTPRequestMethod   = semconv.HTTPRequestMethodKey
	SemHTTPResponseStatus  = semconv.HTTPResponseStatusCodeKey
	SemHTTPRoute           = semconv.HTTPRouteKey
	SemErrorType           = semconv.ErrorTypeKey
	SemUserID              = semconv.UserIDKey
	SemNetworkProtocolName = semconv.NetworkProtocolNameKey
	SemHTTPRequestOrigin   = attribute.Key("http.request.header.origin")
)

// Frame directions, as network.io.direction values.
var (
	DirectionReceive  = semconv.NetworkIODirectionReceive
	DirectionTransmit = semconv.NetworkIODirectionTransmit
)

// TraceStateOnDemand is the trace-state key (W3C tracestate) of the spans
// of a trace on demand: set by tracing/setup's sampler on the
// SpanOnDemand span, inherited by its children, so that they are sampled
// too.
const TraceStateOnDemand = "wsd"
