package store

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/session"
)

// The most the store keeps of a session's client-supplied fields. A longer
// value is cut at a UTF-8 boundary and ends with TruncationMark, so that a
// reader of history can tell a cut value from a short one; the limits count
// the mark. They bound a row of history whatever a client sends: with a
// route and user of normal length a row stays under MaxRowBytes (README,
// "Limits and failure modes").
const (
	MaxUserAgentBytes  = 256
	MaxOriginBytes     = 256
	MaxUserBytes       = 256
	MaxRemoteAddrBytes = 64
	MaxRouteBytes      = 256
	MaxLabels          = 16
	MaxLabelKeyBytes   = 64
	MaxLabelValueBytes = 128
	// MaxLabelsBytes bounds the labels as stored (a JSON object, where an
	// escaped character takes up to six bytes).
	MaxLabelsBytes = 3 * 1024
	MaxReasonBytes = 123 // RFC 6455 §5.5: a close frame's reason fits in 123 bytes
	MaxErrorBytes  = 256
	// MaxTraceIDBytes bounds the trace id: 16 bytes in hex. A longer one
	// is not a trace id and is stored as none ("").
	MaxTraceIDBytes = 32
	// MaxRowBytes bounds the text and the black box (MaxBlackBoxBytes) a
	// session row holds, summing the limits above and the labels' JSON
	// punctuation.
	MaxRowBytes = 6*1024 + MaxTraceIDBytes + MaxBlackBoxBytes

	// TruncationMark ends every value the store cut.
	TruncationMark = "…"
	// TruncatedLabelsKey is the label the store adds, in place of the
	// labels it dropped beyond MaxLabels (the last ones in key order), with
	// the number it dropped.
	TruncatedLabelsKey = "_truncated"
)

// truncate returns s cut to at most max bytes at a UTF-8 boundary, ending
// with TruncationMark, or s itself when it fits.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max - len(TruncationMark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + TruncationMark
}

// boundOpen caps the client-supplied fields of o. It returns o unchanged,
// sharing its Labels, when everything fits, which is the usual case and
// costs no allocation.
func boundOpen(o session.Open) session.Open {
	o.Route = truncate(o.Route, MaxRouteBytes)
	o.RemoteAddr = truncate(o.RemoteAddr, MaxRemoteAddrBytes)
	o.User = truncate(o.User, MaxUserBytes)
	o.Origin = truncate(o.Origin, MaxOriginBytes)
	o.UserAgent = truncate(o.UserAgent, MaxUserAgentBytes)
	if len(o.TraceID) > MaxTraceIDBytes {
		o.TraceID = "" // a cut trace id would name no trace
	}
	// Subprotocol and Extensions are what wsd agreed to, from its own
	// configuration: not the client's to grow. Labels are bounded as they
	// are encoded (encodeLabels).
	return o
}

// boundClose caps the free-text fields of c; its black box is bounded as
// it is encoded (encodeBlackBox).
func boundClose(c session.Close) session.Close {
	c.CloseReason = truncate(c.CloseReason, MaxReasonBytes)
	c.Error = truncate(c.Error, MaxErrorBytes)
	return c
}

func labelsFit(m map[string]string) bool {
	if len(m) > MaxLabels {
		return false
	}
	for k, v := range m {
		if len(k) > MaxLabelKeyBytes || len(v) > MaxLabelValueBytes {
			return false
		}
	}
	return true
}

// boundLabels returns a new map holding at most max labels of m (max <=
// MaxLabels): the first in key order, keys and values truncated, with
// TruncatedLabelsKey counting the rest (the marker takes the place of the
// last one kept). Keys that collide once truncated keep the first value in
// key order.
func boundLabels(m map[string]string, max int) map[string]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keep := len(keys)
	if keep > max {
		keep = max - 1
	}
	out := make(map[string]string, keep+1)
	for _, k := range keys[:keep] {
		tk := truncate(k, MaxLabelKeyBytes)
		if _, dup := out[tk]; dup {
			continue
		}
		out[tk] = truncate(m[k], MaxLabelValueBytes)
	}
	if dropped := len(keys) - keep; dropped > 0 {
		out[TruncatedLabelsKey] = strconv.Itoa(dropped)
	}
	return out
}
