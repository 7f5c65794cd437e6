package store

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func TestBlackBoxEncoding(t *testing.T) {
	if got := encodeBlackBox(nil); got != nil {
		t.Fatalf("no frames encoded as %v, want nil (NULL)", got)
	}
	if got, err := decodeBlackBox(nil); got != nil || err != nil {
		t.Fatalf("NULL decoded as %v, %v", got, err)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	frames := []session.Frame{
		{At: base, In: true, Opcode: 1, Fin: true, Len: 5},
		{At: base.Add(-time.Millisecond), Opcode: 9, Fin: true}, // written before the read was noted
		{At: base.Add(time.Hour), In: true, Opcode: 0, RSV: 4, Len: math.MaxInt64},
		{In: true, Opcode: 8, Fin: true, Len: 2}, // no time
		{At: base, Opcode: 15, RSV: 7, Fin: true, Len: 125},
	}
	b := encodeBlackBox(frames)
	got, err := decodeBlackBox(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, frames) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, frames)
	}
	t.Logf("%d frames in %d bytes", len(frames), len(b))

	// Out-of-range fields are clamped, not spilled into other bits.
	got, err = decodeBlackBox(encodeBlackBox([]session.Frame{{At: base, Opcode: 0xff, RSV: 0xff, Len: -1}}))
	if err != nil || !reflect.DeepEqual(got, []session.Frame{{At: base, Opcode: 15, RSV: 7}}) {
		t.Fatalf("clamped: %+v, %v", got, err)
	}

	for _, bad := range [][]byte{{2}, {blackBoxV1, 1}, {blackBoxV1, 1, 0x80}, {blackBoxV1, 1, 1}} {
		if _, err := decodeBlackBox(bad); !errors.Is(err, errBlackBox) {
			t.Errorf("decode %v: %v, want errBlackBox", bad, err)
		}
	}
}

// TestBlackBoxKeepsTheLastFrames: of a longer ring, the last
// MaxBlackBoxFrames are kept, and a typical black box is small.
func TestBlackBoxKeepsTheLastFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var frames []session.Frame
	for range 100 {
		at = at.Add(time.Duration(rng.IntN(int(time.Second))))
		frames = append(frames, session.Frame{At: at, In: rng.IntN(2) == 0, Opcode: uint8(rng.IntN(3)),
			Fin: true, Len: rng.Int64N(4096)})
	}
	b := encodeBlackBox(frames)
	got, err := decodeBlackBox(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := frames[len(frames)-session.MaxBlackBoxFrames:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %d frames, want the last %d", len(got), len(want))
	}
	if len(b) > 600 {
		t.Errorf("64 frames a second apart take %d bytes, want at most 600", len(b))
	}
	t.Logf("64 frames in %d bytes", len(b))
}

func FuzzDecodeBlackBox(f *testing.F) {
	f.Add(encodeBlackBox([]session.Frame{{At: time.Unix(0, 1), In: true, Opcode: 1, Fin: true, Len: 3}}))
	f.Add([]byte{blackBoxV1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := decodeBlackBox(b)
		if err != nil {
			return
		}
		if again, err := decodeBlackBox(encodeBlackBox(frames)); err != nil ||
			(len(frames) <= session.MaxBlackBoxFrames && !reflect.DeepEqual(again, frames)) {
			t.Fatalf("re-encoded %+v: %+v, %v", frames, again, err)
		}
	})
}

// BenchmarkEncodeBlackBox is the cost RecordClose adds for a session that
// ended abnormally with a full black box.
func BenchmarkEncodeBlackBox(b *testing.B) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	frames := make([]session.Frame, session.MaxBlackBoxFrames)
	for i := range frames {
		frames[i] = session.Frame{At: at.Add(time.Duration(i) * 37 * time.Millisecond), In: i%2 == 0, Opcode: 1, Fin: true, Len: int64(100 + i)}
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(encodeBlackBox(frames))
	}
	b.ReportMetric(float64(n), "bytes")
}
