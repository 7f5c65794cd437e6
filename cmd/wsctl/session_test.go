package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// TestPrintSessionTrace: wsctl session shows a session's trace id, and no
// Trace row for a session that was not traced (issue 20).
func TestPrintSessionTrace(t *testing.T) {
	for _, tc := range []struct {
		trace string
		want  bool
	}{{"4bf92f3577b34da6a3ce929d0e0e4736", true}, {"", false}} {
		var b bytes.Buffer
		p := &printer{w: &b, format: "table", now: time.Now}
		if err := p.session(&apitype.Session{ID: "s1", Route: "/", TraceID: tc.trace}); err != nil {
			t.Fatal(err)
		}
		has := regexp.MustCompile(`(?m)^Trace: +` + tc.trace + `$`).MatchString(b.String())
		if has != tc.want || strings.Contains(b.String(), "Trace:") != tc.want {
			t.Errorf("trace %q: output %q", tc.trace, b.String())
		}
	}
}
