package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/session"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 8, ""},
		{"abcdefgh", 8, "abcdefgh"},
		{"abcdefghi", 8, "abcde…"},
		// "é" is two bytes: the cut backs off to a rune start.
		{"abcdéfghi", 8, "abcd…"},
		{"abcédfghi", 8, "abcé…"},
		{strings.Repeat("€", 10), 9, "€€…"},
	} {
		got := truncate(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestEncodeLabelsBounded(t *testing.T) {
	many := map[string]string{}
	for i := range 40 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	escaped := map[string]string{}
	for i := range MaxLabels {
		escaped[fmt.Sprintf("k%02d", i)] = strings.Repeat("<", MaxLabelValueBytes)
	}
	for _, tc := range []struct {
		name string
		in   map[string]string
		want func(t *testing.T, got map[string]string)
	}{
		{"fits", map[string]string{"room": "a", "tier": "gold"}, func(t *testing.T, got map[string]string) {
			if len(got) != 2 || got["room"] != "a" {
				t.Errorf("got %v", got)
			}
		}},
		{"too many", many, func(t *testing.T, got map[string]string) {
			if len(got) != MaxLabels || got[TruncatedLabelsKey] != "25" || got["k00"] != "v" || got["k14"] != "v" {
				t.Errorf("got %d labels %v", len(got), got)
			}
			if _, ok := got["k15"]; ok {
				t.Errorf("k15 kept: the marker takes the last place")
			}
		}},
		{"long key and value", map[string]string{strings.Repeat("k", 500): strings.Repeat("v", 9000)}, func(t *testing.T, got map[string]string) {
			for k, v := range got {
				if len(k) != MaxLabelKeyBytes || !strings.HasSuffix(k, TruncationMark) ||
					len(v) > MaxLabelValueBytes || !strings.HasSuffix(v, TruncationMark) {
					t.Errorf("got %q=%q", k, v)
				}
			}
		}},
		{"escaped characters", escaped, func(t *testing.T, got map[string]string) {
			if got[TruncatedLabelsKey] == "" || got["k00"] == "" {
				t.Errorf("want some labels dropped, the first kept: %v", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := encodeLabels(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > MaxLabelsBytes {
				t.Fatalf("encoded labels are %d bytes, over %d", len(s), MaxLabelsBytes)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(s), &got); err != nil {
				t.Fatal(err)
			}
			tc.want(t, got)
		})
	}
}

// TestRowBounded records sessions with every client-supplied field as large
// as a client can make it (issue 19: 15,000-byte user agents and 8 KB labels
// were stored whole) and checks each stored row stays under MaxRowBytes.
func TestRowBounded(t *testing.T) {
	s := testStore(t, nil)
	huge := strings.Repeat("x", 15000)
	labels := map[string]string{}
	for i := range 64 {
		labels[fmt.Sprintf("%s%02d", strings.Repeat("k", 200), i)] = strings.Repeat("\x01", 8192)
	}
	// The largest black box: every frame's length and time delta as long
	// as a varint gets, and more frames than are kept.
	var box []session.Frame
	for i := range 3 * session.MaxBlackBoxFrames {
		ns := int64(1 << 62) // deltas of ±2^63: ten bytes each
		if i%2 == 1 {
			ns = -ns
		}
		box = append(box, session.Frame{At: time.Unix(0, ns), In: true, Opcode: 15, Fin: true, RSV: 7, Len: math.MaxInt64})
	}
	const n = 50
	for i := range n {
		id := fmt.Sprintf("01J00000000000000000000%03d", i)
		s.RecordOpen(session.Open{ID: id, Route: "/chat", RemoteAddr: "192.0.2.1:5000",
			User: huge, Labels: labels, Origin: huge, UserAgent: huge, ConnectedAt: at(0), TraceID: huge})
		s.RecordClose(session.Close{ID: id, ClosedAt: at(1), CloseCode: 1000,
			CloseReason: huge, ClosedBy: session.ClosedByClient, Error: huge, BlackBox: box})
	}
	flush(t, s)
	var rows, maxRow, maxBox int
	err := s.rdb.QueryRowContext(context.Background(), `SELECT count(*), max(length(CAST(id||route||remote_addr||user||labels||origin||user_agent||
		subprotocol||extensions||close_reason||coalesce(closed_by,'')||error||node||trace_id AS BLOB) || black_box)),
		max(length(black_box)) FROM sessions`).Scan(&rows, &maxRow, &maxBox)
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || maxRow > MaxRowBytes {
		t.Fatalf("%d rows, the largest %d bytes of text: want %d rows of at most %d", rows, maxRow, n, MaxRowBytes)
	}
	got, err := s.GetSession(context.Background(), "01J00000000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.UserAgent, TruncationMark) || len(got.UserAgent) > MaxUserAgentBytes {
		t.Errorf("user agent %d bytes, not marked as truncated", len(got.UserAgent))
	}
	if got.TraceID != "" {
		t.Errorf("trace id of %d bytes stored as %q, want none", len(huge), got.TraceID)
	}
	if maxBox > MaxBlackBoxBytes || len(got.BlackBox) != session.MaxBlackBoxFrames ||
		!reflect.DeepEqual(got.BlackBox[len(got.BlackBox)-1], session.Frame{At: time.Unix(0, -1<<62).UTC(),
			In: true, Opcode: 15, Fin: true, RSV: 7, Len: math.MaxInt64}) {
		t.Errorf("black box of %d bytes (limit %d), %d frames kept, the last %+v", maxBox, MaxBlackBoxBytes, len(got.BlackBox), got.BlackBox[len(got.BlackBox)-1])
	}
	t.Logf("largest row: %d bytes of text and black box (limit %d)", maxRow, MaxRowBytes)
}
