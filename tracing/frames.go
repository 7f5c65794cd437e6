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

// FrameFlags returns the websocket.flags value of a frame header: the
// names of the bits set among FIN, RSV1, RSV2, RSV3 and MASK, in header
// order and separated by spaces ("fin masked", "fin rsv1 masked"; "" when
// none is). The 32 values are constants: no allocation per frame.
func FrameFlags(fin, rsv1, rsv2, rsv3, masked bool) string {
	i := 0
	for _, b := range [...]bool{fin, rsv1, rsv2, rsv3, masked} {
		i <<= 1
		if b {
			i |= 1
		}
	}
	return frameFlagNames[i]
}

// frameFlagNames[i] names the bits of i: 16 fin, 8 rsv1, 4 rsv2, 2 rsv3,
// 1 masked. It is never modified.
var frameFlagNames = [32]string{
	"", "masked", "rsv3", "rsv3 masked",
	"rsv2", "rsv2 masked", "rsv2 rsv3", "rsv2 rsv3 masked",
	"rsv1", "rsv1 masked", "rsv1 rsv3", "rsv1 rsv3 masked",
	"rsv1 rsv2", "rsv1 rsv2 masked", "rsv1 rsv2 rsv3", "rsv1 rsv2 rsv3 masked",
	"fin", "fin masked", "fin rsv3", "fin rsv3 masked",
	"fin rsv2", "fin rsv2 masked", "fin rsv2 rsv3", "fin rsv2 rsv3 masked",
	"fin rsv1", "fin rsv1 masked", "fin rsv1 rsv3", "fin rsv1 rsv3 masked",
	"fin rsv1 rsv2", "fin rsv1 rsv2 masked", "fin rsv1 rsv2 rsv3", "fin rsv1 rsv2 rsv3 masked",
}
