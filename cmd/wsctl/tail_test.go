package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
)

func TestPrintTap(t *testing.T) {
	var b bytes.Buffer
	p := &printer{w: &b, format: "table", now: time.Now}
	at := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	for _, ev := range []apitype.TapEvent{
		{Type: "message", At: at, ID: "c1", Direction: "in", Message: "text", Size: 5},
		{Type: "message", At: at, ID: "c1", Direction: "out", Message: "text", Size: 300, Payload: []byte("hé"), Truncated: true, Dropped: 3},
		{Type: "message", At: at, ID: "c1", Direction: "out", Message: "binary", Size: 2, Payload: []byte{0, 0xff}},
	} {
		if err := p.tap(ev); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", b.String())
	}
	for i, want := range []string{"  c1  in  text  5B", `  c1  out  text  300B  "hé"…  (dropped 3 before this)`, "  c1  out  binary  2B  0x00ff"} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d: %q, want suffix %q", i, lines[i], want)
		}
	}
}
