// Package protocol implements the WebSocket protocol (RFC 6455) for servers and
// clients, using only the standard library.
//
// A server upgrades an HTTP request with [Accept], or a raw connection whose
// request has not been parsed yet with [AcceptRaw]. A client connects with
// [Dial]. Both return a [Conn].
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
// *CloseError, if a close frame ended it).
//
// # Cost
//
// In steady state, ReadInto with a reused buffer and Write allocate nothing per
// message. Frame observation ([Options.OnFrame]) costs one nil check per frame
// when unset.
package protocol
