// Package daemon is wsd's connection manager: it accepts WebSocket
// connections on listeners it is given, routes them to handlers (echo,
// relay, webhook, sink), keeps a sharded registry of the live ones, applies
// the limits of PRODUCT.md §8, records every session through a Recorder,
// and drains on shutdown. It exposes plain data methods (Connections, Send,
// Broadcast, Close, Stats, Watch) that the admin API serves.
//
// # Goroutines
//
// Per connection: at most one goroutine at a time reads it (conn.serve),
// and the last one records its end. An idle connection has none: its
// reading goroutine parks it (conn.park), arming its socket in the daemon's
// poller (one epoll instance, one goroutine: internal/poller), and exits;
// readability, a hang-up or a close the daemon starts resumes it on a new
// goroutine (conn.resume). Handshakes and wake-ups run on kept workers
// (workers.go) that reuse their grown stacks instead of growing a fresh
// goroutine's each time. A writer goroutine exists only while the
// connection's send queue is non-empty (the connection's sender:
// internal/sender, which counts and waits for it); a broadcast writes
// inline to the connections that have none, with a system call that never
// waits, and starts one only for what the socket did not take. Closing
// handshakes and webhook requests run on short-lived goroutines the
// connection owns and waits for (conn.wg). Per daemon: one accept loop per
// listener, the poller, idle workers (each ends after workerIdle), one
// keepalive scanner (pings, pong timeouts, token expiry, the end of a
// trace on demand: no timer per connection), a fixed pool of webhook
// close-event workers, and while a drain runs its pacing goroutine
// (drain.go). Shutdown waits for all of them.
//
// # Memory
//
// An idle connection holds no read buffer, no message buffer and no queue
// storage: reads go through lazyReader, which borrows a pooled chunk only
// when the socket is readable; writes are batched by the connection's
// sender in a pooled chunk (internal/bufpool); the protocol keeps a 16-byte
// reader and a 127-byte writer. A
// connection whose messages come sporadically (more than sporadicGap apart)
// is parked between them, so it holds no goroutine and no stack; busy ones
// keep their goroutine, which is cheaper than a park and a resume per
// message. It reads with protocol.Options.YieldAfterControl, so that a
// keepalive pong returns to the loop and the connection parks again.
// Without a poller (not Linux, or not a plain socket: TLS) the goroutine
// stays and waits in a MSG_PEEK readiness wait (lazyReader.waitReadable)
// rather than inside the protocol's read path, so its stack stays at 2 KiB.
// Measured (cmd/wsd TestMeasureIdleMemory): about 3.7 KB of RSS per idle
// connection at 10,000 and at 19,500 connections (6.3 KB when each kept a
// parked goroutine), 4.9 KB at 10,000 with pings every 2 s (pongs wake
// connections up, and the workers and goroutine descriptors of those
// bursts stay for a while). With the black box in place (the connection
// is its protocol.Hooks; the ring is allocated at the first frame): 3.5-3.9 KB at
// 10,000 idle connections depending on where the GC cycle falls (3.87-3.96
// KB against main's 3.56 at the default GOGC; with GOGC=50, 3.51 KB against
// 3.45: about 55 bytes more per connection, then the hooks' two closures
// and two pointers; the closures are gone since the connection is its own
// protocol.Hooks). The connection keeps its id's string form (48 bytes),
// made once instead of at its open and again at its close; the field fits
// in the conn's size class.
//
// # Lock order
//
// A lock may be taken while holding the ones above it, never the reverse:
//
//	Daemon.reloadMu        (Reload only)
//	Daemon.lnMu            (listeners, handshakes in progress, draining flip)
//	drainer.mu             (the drain's status; held while a drain snapshots
//	                        the hub, never while it closes connections)
//	metrics.foldMu         (message totals; a scrape holds it while it walks the hub)
//	hubShard.mu            (registry shard; never held across I/O or calls out)
//	relayShard.mu          (a relay room; held while enqueueing to its members)
//	events.mu              (watcher set; publishing never blocks)
//	conn.mu                (closing flag, close cause: a leaf for daemon code but
//	                        for the sender's lock, which closing the sender takes)
//	sender.Sender.mu       (the send queue and who owns the writes: a leaf, never
//	                        held across I/O, a protocol call or a call to the
//	                        connection)
//	protocol.Conn locks    (taken inside protocol calls, never with conn.mu or
//	                        Sender.mu held)
//	sender's writer.mu     (taken by protocol writes under their frame lock and
//	                        held across the system call; an inline write only
//	                        tries it, and then only tries the protocol's locks:
//	                        it never waits)
//	ipShard.mu             (per-IP counters; a leaf)
//	tapper.mu              (the taps of wsctl tail; taken on the reading
//	                        goroutine and the send paths, relayShard.mu
//	                        possibly held; a leaf: it only offers events)
//	poller.Poller.mu       (poller slots; held around epoll_ctl and while it
//	                        wakes connections: conn.Wake takes no lock)
//	connTrace.mu           (a traced session's frame segment; taken inside protocol
//	                        writes and reads through OnFrame; a leaf but for the
//	                        OpenTelemetry span's own lock)
//	blackBox.mu            (a connection's ring of frame headers; taken inside
//	                        protocol writes and reads through OnFrame; a leaf)
//
// conn.mu is never held while calling the protocol, starting a goroutine or
// doing I/O. hubShard.mu and relayShard.mu are held only to copy or to
// enqueue, which never blocks (an enqueue may start the connection's writer
// goroutine). Config is read through an atomic pointer and never locked;
// the senders' write timeout and queue limit through sender.Limits, whose
// fields are atomics.
package daemon
