// Package sender owns a WebSocket connection's send state: its bounded
// send queue, the writer goroutine that drains it, the inline writes that
// skip the queue, the bytes a non-blocking write left behind, the write
// deadline and the batching of frames into few system calls. A Sender is
// embedded in the connection it serves; nothing else touches that state.
//
// Writes reach the socket in two layers. The framer (the connection's
// *protocol.Conn) turns messages into frames and writes them, under its
// own frame lock, into its small bufio.Writer, which writes into the
// Sender (Sender.Write); the Sender's writer batches those bytes in a
// pooled chunk (bufpool) and writes them out. Control frames the framer
// sends on its own (pongs, the close frame) take the same path, outside
// any batch.
//
// # States
//
// One party at a time owns the connection's message writes (busy): an
// inline writer (the caller's goroutine, for the length of one message) or
// the writer goroutine, which exists only while there is something to
// write. Under Sender.mu:
//
//	            Send, with nobody writing: start the writer goroutine
//	   +------+ ----------------------------------------> +---------+
//	   | Idle |                                           | Writing | --+ Send, SendNB,
//	   |      | <--- queue empty and batch written: exit  |         | <-+ Ping, Reply:
//	   +------+                                           +---------+     Queued
//	    |    ^                                              ^      |
//	    |    | written whole,            written whole, but |      | write failed
//	    |    | nothing queued            queued meanwhile   |      | (error, or
//	    |    | (Written)                 (Written); socket  |      | timeout):
//	    v    |                           took part (Held);  |      v
//	   +--------+                        frame lock taken   |   Owner.WriteFailed,
//	   | Inline | ---------------------- (Deferred) --------+   nobody writing
//	   +--------+
//
//	Idle -> Inline: Reply, SendNB or Ping, with nobody writing and nothing
//	queued (SendNB and Ping on a raw socket only; else they queue).
//	Inline -> nobody writing: the write failed (Failed), Owner.WriteFailed.
//
//	Close, from any state: Closed. The queue is discarded and Send,
//	SendNB, Ping and Reply return Closed. An inline write in progress
//	finishes; a writer goroutine writes what an inline write held,
//	flushes its batch (it may end with the close frame) and exits.
//
// Idle: nobody writes, the queue is empty and holds no storage, nothing
// is held, no goroutine exists. Inline: the caller's goroutine writes one
// message; Reply may block up to the write timeout (the reading goroutine
// of an echo, whose client does not read, stalls only itself), SendNB and
// Ping never wait — neither for a frame lock another write holds (then the
// message goes first in line, Deferred) nor for the socket (what it does
// not take is held, first in line, Held). Writing: the writer goroutine
// first writes what an inline write held, then the queue, batching frames
// up to a chunk per system call; it ends when the queue is empty.
//
// Bounds: Send, SendNB and Reply (when busy) refuse a message that would
// take the queued bytes (queued, being written or held) past
// Limits.QueueBytes (Full: the caller closes the connection as a slow
// consumer); pings are not counted. Every system call has between half and
// all of Limits.WriteTimeout; a socket that stays full past it fails the
// write with os.ErrDeadlineExceeded (the caller's slow consumer too).
// After CloseDeadline, the closing handshake's deadline bounds every write,
// including one blocked right now.
//
// # Concurrency
//
// All methods are safe for concurrent use, but for Init and Attach, which
// come first, and Wait and Release, which come last. Sender.mu guards the
// queue and the ownership of writes; it is never held across I/O, a call
// into the framer or the Owner, or the writer's lock. The writer's lock is
// taken by every write into the Sender (under the framer's frame lock) and
// is held across the system call; inline non-blocking writes only try it.
// Owner.WriteFailed is called with no lock of the Sender held. Send,
// SendNB, Ping and Reply never start a goroutine while a lock is held; the
// writer goroutine is counted (Wait) from the moment it is decided.
package sender
