package tracing

import "fmt"

// FrameMode says which frames of a traced session are recorded
// (--trace-frames).
type FrameMode uint8

// Frame modes.
const (
	FramesNone    FrameMode = iota // upgrade, close, sends and webhooks only
	FramesControl                  // plus ping, pong and close frames
	FramesAll                      // plus every data frame
)

// DefaultFrameMode records control frames: cheap, and enough to see
// keepalives and who closed.
const DefaultFrameMode = FramesControl

var frameModeNames = [...]string{FramesNone: "none", FramesControl: "control", FramesAll: "all"}

func (m FrameMode) String() string {
	if int(m) < len(frameModeNames) {
		return frameModeNames[m]
	}
	return fmt.Sprintf("FrameMode(%d)", m)
}

// ParseFrameMode parses none, control or all.
func ParseFrameMode(s string) (FrameMode, error) {
	for m, name := range frameModeNames {
		if s == name {
			return FrameMode(m), nil
		}
	}
	return 0, fmt.Errorf("%q: want none, control or all", s)
}

// Set implements flag.Value.
func (m *FrameMode) Set(s string) error {
	v, err := ParseFrameMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Records reports whether a frame with this opcode is recorded: control
// frames have opcodes 8 and above (RFC 6455 §5.5).
func (m FrameMode) Records(opcode uint8) bool {
	switch m {
	case FramesAll:
		return true
	case FramesControl:
		return opcode >= 8
	}
	return false
}
