// Package protocol implements the WebSocket protocol (RFC 6455) for servers and
// clients, using only the standard library.
//
// A server upgrades an HTTP request of a net/http handler with [Accept], or a
// raw connection whose request has not been read yet with [AcceptRaw]. A
// server that reads the request itself, to admit, route or authenticate it
// before the handshake, completes the handshake with [Upgrade] (see below). A
// client connects with [Dial]. All return a [Conn].
//
// # Concurrency
//
// A Conn supports one concurrent reader and any number of concurrent writers:
// Read, ReadInto and Reader must be called from a single goroutine at a time,
// while Write, Writer, Ping and Close may be called from any goroutine. Control
// frames (pong replies, close replies) are written by the reading goroutine
// between the frames of a message another goroutine is streaming, never inside
// a frame.
//
// # Reading drives the connection
//
// Pings are answered, pongs recorded and the close handshake completed while a
// goroutine is reading. An application that never reads should call
// [Conn.CloseRead] so that control frames are still processed.
//
// # Errors
//
// A peer's close frame surfaces as a *[CloseError] (use errors.As). A protocol
// violation by the peer closes the connection with the matching status code
// (1002, 1007, 1009) and is returned as a *CloseError whose Local field is
// true. Once the connection has ended, Read keeps returning the error that
// ended it, and Write returns an error wrapping [net.ErrClosed] (and the
// *CloseError, if a close frame ended it). A refused opening handshake is a
// *[HandshakeError] on the server and a *[DialError] on the client; both wrap
// [ErrHandshake].
//
// # Servers that manage their own I/O
//
// A server that runs its own listener loop, parks idle connections outside
// the read path or batches writes (wsd's daemon does all three) uses these
// instead of Accept and a goroutine per connection blocked in Read:
//
//   - The handshake in steps. A [HeadReader] (pooled, reset per connection)
//     reads the request head within a size limit and tells a head too large
//     (431, [ErrHeadTooLarge]) and a malformed one (400,
//     [ErrMalformedRequest]) from a connection that failed or timed out
//     before the head was complete, even in the middle of a line (an I/O
//     error; [os.ErrDeadlineExceeded] for a deadline). The server then
//     admits, routes and authenticates, and either refuses with [Reject]
//     (status, extra fields such as Retry-After, a one-line body,
//     Connection: close) or calls [Upgrade], which validates the request,
//     negotiates, answers 101 and returns the Conn.
//   - Buffers of its own. Upgrade uses the bufio.Reader and bufio.Writer it
//     is given, whatever their size, so the Conn can read through a reader
//     that holds memory only while data is pending and write through a writer
//     that batches; [Options.ReadBufferSize] and [Options.WriteBufferSize]
//     size only the buffers it has to make.
//   - [Options.YieldAfterControl]: a read that handled only control frames
//     (a keepalive pong) returns instead of waiting for a message, so the
//     goroutine can park the connection again.
//   - [Options.Buffers]: messages larger than the caller's buffer borrow
//     memory from a shared pool instead of each connection growing its own.
//   - [Conn.TryPing] and [Conn.TryWritePrepared]: a keepalive or broadcast
//     loop that must not wait behind another writer skips the connection
//     instead (with a [PreparedMessage], a broadcast frames the message once
//     for every connection). With [Options.FrameWriter] set to the writer
//     beneath the Conn's buffered writer, a prepared frame goes to it
//     directly, never through the buffer.
//
// # Cost
//
// In steady state, ReadInto with a reused buffer and Write allocate nothing per
// message. Frame observation ([Options.OnFrame], [Options.Hooks]) costs one
// check per frame when unset.
package protocol
