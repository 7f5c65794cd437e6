package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Scenarios.
const (
	ScenarioEcho      = "echo"      // connections send messages and wait for the echo
	ScenarioIdle      = "idle"      // connections open and are held
	ScenarioChurn     = "churn"     // workers open and close connections
	ScenarioBroadcast = "broadcast" // receivers wait for broadcasts sent by Config.Broadcast
)

// Defaults applied to zero Config fields.
const (
	DefaultDuration    = 10 * time.Second
	DefaultDialWorkers = 32
	DefaultProgress    = time.Second
)

// PerSource is how many connections a run opens from one 127.0.0.x source
// address when Config.Sources is zero: below the ~28k ephemeral ports of
// one address.
const PerSource = 20000

// MaxSize is the largest message Config.Size allows.
const MaxSize = 64 << 20

const (
	maxFrameHeader      = 14      // a client frame's header, at most
	maxBenchWriteBuffer = 1 << 20 // the largest write buffer per echo connection
)

// BroadcastFunc sends one broadcast of payload to the server's
// connections and reports how many connections it was queued for.
type BroadcastFunc func(ctx context.Context, payload []byte) (queued int64, err error)

// Config says what to run. Zero fields take the defaults above where one
// is documented.
type Config struct {
	URL      string // ws:// or wss://
	Scenario string // one of the Scenario constants; default ScenarioEcho
	// Conns is the number of connections (echo, idle, broadcast) or
	// workers (churn); at least 1.
	Conns int
	Size  int  // message size in bytes (echo, broadcast), 0 to MaxSize
	Text  bool // send text messages instead of binary
	// Duration bounds the run (idle: how long connections are held).
	// Default DefaultDuration.
	Duration time.Duration
	// Count stops the run after this many operations (messages echoed,
	// handshakes, broadcasts); 0 means no limit but Duration.
	Count int64
	// Pipeline is the number of echo messages in flight per connection
	// (1, the default, is a closed loop).
	Pipeline int
	// Sources is the number of 127.0.0.x source addresses connections are
	// spread over. Default: one per PerSource connections on an IPv4
	// loopback target (except churn), else 1. At most 250.
	Sources int
	// DialWorkers is the number of handshakes in progress at once while
	// connections open. Default DefaultDialWorkers.
	DialWorkers int
	Header      http.Header // extra request headers
	// PID, if set, is a local server's process id: its CPU time and RSS
	// are read from /proc (Linux only) at both ends of the measured phase.
	PID int
	// Broadcast sends each broadcast; required for ScenarioBroadcast.
	Broadcast BroadcastFunc
	// Progress, if set, is called every ProgressEvery (default
	// DefaultProgress) while the run goes on, from a goroutine that has
	// ended when Run returns.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed    time.Duration // since Run started
	Operations int64         // done so far in the current phase
	Errors     int64
	Refused    int64 // handshakes refused (429, 503) so far
}

// ErrNoBroadcast is returned by Validate for a broadcast without Config.Broadcast.
var ErrNoBroadcast = errors.New("broadcast scenario needs a Broadcast function")

// Validate checks c and fills in the defaults of its zero fields.
func (c *Config) Validate() error {
	if c.Scenario == "" {
		c.Scenario = ScenarioEcho
	}
	switch c.Scenario {
	case ScenarioEcho, ScenarioIdle, ScenarioChurn, ScenarioBroadcast:
	default:
		return fmt.Errorf("unknown scenario %q: want echo, idle, churn or broadcast", c.Scenario)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("%q: want a ws:// or wss:// URL", c.URL)
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Pipeline == 0 {
		c.Pipeline = 1
	}
	if c.DialWorkers == 0 {
		c.DialWorkers = DefaultDialWorkers
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = DefaultProgress
	}
	switch {
	case c.Conns < 1:
		return errors.New("connections must be at least 1")
	case c.Size < 0 || c.Size > MaxSize:
		return errors.New("size must be between 0 and 64 MiB")
	case c.Duration < 0:
		return errors.New("duration must be positive")
	case c.Count < 0:
		return errors.New("count must not be negative")
	case c.Pipeline < 1:
		return errors.New("pipeline must be at least 1")
	case c.DialWorkers < 1:
		return errors.New("dial workers must be at least 1")
	case c.Sources < 0 || c.Sources > 250:
		return errors.New("sources must be between 0 and 250")
	case c.ProgressEvery < 0:
		return errors.New("progress interval must be positive")
	case c.Scenario == ScenarioBroadcast && c.Broadcast == nil:
		return ErrNoBroadcast
	case c.PID > 0 && !haveProc:
		return errors.New("server readings (PID) need /proc, which this system lacks")
	}
	if c.Sources == 0 {
		c.Sources = 1
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil && c.Scenario != ScenarioChurn {
			c.Sources = (c.Conns + PerSource - 1) / PerSource
		}
	}
	return nil
}
