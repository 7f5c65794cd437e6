// Package loadgen is the engine of `wsctl bench`: it drives a WebSocket
// server through one of four scenarios (echo, idle, churn, broadcast),
// records latencies in a fixed-size histogram, and measures its own CPU
// time and, for a local server, the server's CPU time and RSS from /proc.
//
// Run is the whole API: it takes a Config, returns a Result, and reports
// progress through Config.Progress. Presentation (flags, tables, the
// progress line) belongs to the caller.
//
// Concurrency: Run starts one goroutine per connection (echo, idle,
// broadcast receivers), per worker (churn) or per dialer while connections
// open, plus one for progress; every one of them has ended when Run
// returns. The counters they share are atomics; each goroutine owns its
// histogram and merges it under a mutex when it ends.
package loadgen
