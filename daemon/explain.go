package daemon

import (
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// Limits returns the configured limits or timeouts that closed a session
// that ended with by, code and errText (its history row's closed_by,
// close_code and error), with their current values, named as wsd's flags
// are; nil when no limit of the daemon's ended it (the client closed, an
// operator did, ...). It answers `wsctl why`.
func (d *Daemon) Limits(by session.ClosedBy, code int, errText string) []session.Limit {
	cfg := d.config().Config
	dur := func(name string, v interface{ String() string }) session.Limit {
		return session.Limit{Name: name, Value: v.String()}
	}
	size := func(name string, n int64) session.Limit {
		return session.Limit{Name: name, Value: strconv.FormatInt(n, 10) + " bytes"}
	}
	switch by {
	case session.ClosedByIdleTimeout:
		return []session.Limit{dur("ping-interval", cfg.PingInterval), dur("pong-timeout", cfg.PongTimeout)}
	case session.ClosedBySlowConsumer:
		if strings.Contains(errText, "write timed out") {
			return []session.Limit{dur("write-timeout", cfg.WriteTimeout)}
		}
		return []session.Limit{size("send-queue-bytes", int64(cfg.SendQueueBytes))}
	case session.ClosedByPolicy:
		switch {
		case strings.Contains(errText, "max-messages-per-second"):
			return []session.Limit{{Name: "max-messages-per-second", Value: strconv.FormatFloat(cfg.MaxMessagesPerSecond, 'g', -1, 64)}}
		case strings.Contains(errText, "max-bytes-per-second"):
			return []session.Limit{size("max-bytes-per-second", cfg.MaxBytesPerSecond)}
		}
	case session.ClosedByProtocolError:
		if code == int(protocol.StatusMessageTooBig) {
			out := []session.Limit{size("max-message-size", cfg.MaxMessageSize)}
			if cfg.MaxFrameSize > 0 && cfg.MaxFrameSize < cfg.MaxMessageSize {
				out = append(out, size("max-frame-size", cfg.MaxFrameSize))
			}
			return out
		}
	}
	return nil
}
