package protocol

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// The lean request-head parser: HeadReader.ReadRequest's fast path for the
// heads WebSocket clients send. It parses a head that lies whole in the
// HeadReader's buffer in place, and builds the *http.Request with a few
// allocations (one for the request, its URL and its header values, one for
// the header map, one string for the header lines, one for the request
// target) instead of net/http's one or more per line.
//
// It accepts only a strict subset of what net/http.ReadRequest accepts, and
// for that subset builds the same request (FuzzLeanHead checks both
// claims). Anything else - another method or version, an absolute or
// escaped target, a bare LF or CR, a folded line, a field name that is not
// a token, a control byte in a value, Content-Length, Transfer-Encoding,
// Pragma, no Host or more than one, a head that does not fit in the
// buffer - is left to net/http, which reads the same bytes as before, so
// every refusal stays what it was.

// leanMaxFields bounds the header fields of a lean head; a head with more
// goes to net/http.
const leanMaxFields = 64

// leanInlineFields is how many field values a leanRequest holds itself;
// a head with more gets a slice of its own for them.
const leanInlineFields = 10

// leanRequest is a request and everything it points to, allocated together.
type leanRequest struct {
	req  http.Request
	url  url.URL
	vals [leanInlineFields]string
}

// commonKeys interns the canonical names of the header fields WebSocket
// clients and browsers send, so that they are not allocated per request.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Host", hConnection, hUpgrade, hOrigin, hVersion, hKey, hProtocol, hExtensions,
		"User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Cache-Control",
		"Cookie", "Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-Ip",
		"Referer", "Dnt", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Gpc", "Priority", "Traceparent", "Tracestate",
	} {
		m[k] = k
	}
	return m
}()

// peekHead returns the request head (through the blank line's CRLF) once it
// lies whole in h's buffer, reading more as needed, without consuming it.
// It returns nil when the head cannot be parsed in place: a line already
// buffered is not one the lean parser takes, the buffer fills first, or a
// read fails. It reads only while every complete line buffered is one the
// lean parser takes, all of which net/http takes too: so it never reads
// what net/http would not have read before deciding, and leaves net/http to
// decide (and to classify a failed read) exactly as before.
func (h *HeadReader) peekHead() []byte {
	checked := 0 // complete lines of buf already checked
	for {
		buf, _ := h.br.Peek(h.br.Buffered())
		for {
			i := bytes.IndexByte(buf[checked:], '\n')
			if i < 0 {
				break
			}
			end := checked + i
			if end == 0 || buf[end-1] != '\r' {
				return nil
			}
			line := buf[checked : end-1]
			switch {
			case checked == 0:
				if _, ok := leanRequestLine(line); !ok {
					return nil
				}
			case len(line) == 0:
				return buf[:end+1]
			case !leanField(line):
				return nil
			}
			checked = end + 1
		}
		if checked == 0 && len(buf) >= 5 && !bytes.HasPrefix(buf, []byte("GET /")) {
			return nil
		}
		if len(buf) >= h.br.Size() {
			return nil
		}
		if _, err := h.br.Peek(len(buf) + 1); err != nil {
			return nil
		}
	}
}

// leanRequestLine checks a request line (without its CRLF) of the form
// GET SP origin-form SP HTTP/1.1 and returns its target.
func leanRequestLine(line []byte) (target []byte, ok bool) {
	const method, proto = "GET ", " HTTP/1.1"
	if len(line) < len(method)+len(proto) || !bytes.HasPrefix(line, []byte(method)) || !bytes.HasSuffix(line, []byte(proto)) {
		return nil, false
	}
	target = line[len(method) : len(line)-len(proto)]
	if _, ok := leanTarget(target); !ok {
		return nil, false
	}
	return target, true
}

// readLean parses the head in h's buffer in place and consumes it; ok is
// false, with nothing consumed, when the head is not one it takes.
func (h *HeadReader) readLean() (req *http.Request, ok bool) {
	head := h.peekHead()
	if head == nil {
		return nil, false
	}
	req, ok = parseLean(head)
	if !ok {
		return nil, false
	}
	if _, err := h.br.Discard(len(head)); err != nil {
		return nil, false // cannot happen: the head is buffered
	}
	return req, true
}

// parseLean parses head, a request head from peekHead (every line of it
// checked, each ending in CRLF, the last one blank), if it is one of the
// subset it takes.
func parseLean(head []byte) (*http.Request, bool) {
	// Request line: GET SP origin-form SP HTTP/1.1 CRLF.
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 || head[eol-1] != '\r' {
		return nil, false
	}
	target, ok := leanRequestLine(head[:eol-1])
	if !ok {
		return nil, false
	}
	pathLen, _ := leanTarget(target)
	fields := head[eol+1 : len(head)-2] // the field lines, each ending in CRLF

	// peekHead has checked every line (leanField): count them.
	n := bytes.Count(fields, []byte("\n"))
	if n > leanMaxFields {
		return nil, false
	}

	lr := &leanRequest{}
	vals := lr.vals[:]
	if n > len(vals) {
		vals = make([]string, n)
	}
	hdr := make(http.Header, max(n-1, 0)) // but Host
	// One string for the target and all the values but those kept.
	all := string(head[:len(head)-2])
	block := all[eol+1:]
	var hosts int
	var host string
	for off, k := 0, 0; off < len(block); k++ {
		i := strings.IndexByte(block[off:], '\n')
		ln := block[off : off+i-1]
		off += i + 1
		colon := strings.IndexByte(ln, ':')
		name := canonicalKey(ln[:colon])
		v := strings.TrimRight(strings.TrimLeft(ln[colon+1:], " \t"), " \t")
		switch name {
		case "Host":
			// net/http.ReadRequest moves it to Request.Host.
			hosts++
			host = v
			continue
		case "Content-Length", "Transfer-Encoding", "Pragma", "Trailer":
			return nil, false // body framing and its fix-ups are net/http's
		case hOrigin, "User-Agent":
			// Servers keep these for the connection's life: their own
			// strings, so as not to keep the whole head.
			v = strings.Clone(v)
		}
		if vv, ok := hdr[name]; ok {
			hdr[name] = append(vv, v)
			continue
		}
		vals[k] = v
		hdr[name] = vals[k : k+1 : k+1]
	}
	if hosts != 1 {
		return nil, false
	}

	tOff := len("GET ") // leanRequestLine took only GET
	uri := all[tOff : tOff+len(target)]
	lr.url.Path = uri[:pathLen]
	if pathLen < len(uri) {
		lr.url.RawQuery = uri[pathLen+1:]
		lr.url.ForceQuery = lr.url.RawQuery == ""
	}
	r := &lr.req
	r.Method = http.MethodGet
	r.RequestURI = uri
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.URL = &lr.url
	r.Header = hdr
	r.Host = host
	r.Close = hasCloseToken(hdr[hConnection])
	r.Body = http.NoBody
	return r, true
}

// leanTarget checks an origin-form target whose path needs no escaping
// either way (so that url.ParseRequestURI would set Path to it and leave
// RawPath empty) and whose query holds only visible ASCII; it returns the
// length of the path.
func leanTarget(t []byte) (pathLen int, ok bool) {
	if len(t) == 0 || t[0] != '/' {
		return 0, false
	}
	pathLen = len(t)
	for i, c := range t {
		if c == '?' {
			pathLen = i
			break
		}
		if !pathByte(c) {
			return 0, false
		}
	}
	for _, c := range t[pathLen:] {
		if c <= ' ' || c >= 0x7f {
			return 0, false
		}
	}
	return pathLen, true
}

// pathByte reports whether c stands for itself in a URL path: unreserved,
// or one of the reserved bytes url.URL.EscapedPath leaves as they are.
func pathByte(c byte) bool { return byteClass[c]&classPath != 0 }

// Byte classes of the lean parser, looked up in byteClass.
const (
	classToken = 1 << iota // an RFC 7230 tchar (isTokenChar)
	classValue             // may appear in a field value (net/textproto's rule)
	classPath              // stands for itself in a URL path (pathByte)
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		b := byte(c)
		if isTokenChar(b) {
			t[c] |= classToken
		}
		if b >= ' ' && b != 0x7f || b == '\t' {
			t[c] |= classValue
		}
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~$&+,/:;=@", b) >= 0 {
			t[c] |= classPath
		}
	}
	return t
}()

// leanField checks a field line (without its CRLF): a token, a colon, and
// a value of visible ASCII, obs-text, spaces and tabs.
func leanField(ln []byte) bool {
	colon := bytes.IndexByte(ln, ':')
	if colon < 1 {
		return false
	}
	for _, c := range ln[:colon] {
		if byteClass[c]&classToken == 0 {
			return false
		}
	}
	for _, c := range ln[colon+1:] {
		if byteClass[c]&classValue == 0 {
			return false
		}
	}
	return true
}

// canonicalKey returns the canonical form of a field name of token bytes
// (textproto.CanonicalMIMEHeaderKey's), interned if it is a common one.
func canonicalKey(k string) string {
	var buf [64]byte
	if len(k) > len(buf) {
		return http.CanonicalHeaderKey(k)
	}
	b := buf[:len(k)]
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if s, ok := commonKeys[string(b)]; ok {
		return s
	}
	if string(b) == k {
		return k // already canonical: share the head's string
	}
	return string(b)
}

// hasCloseToken reports whether a Connection header's values list the
// token "close", compared as net/http does (ASCII case folding, elements
// trimmed of spaces and tabs), which sets Request.Close from it.
func hasCloseToken(values []string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.Trim(t, " \t")
			if len(t) != len("close") {
				continue
			}
			eq := true
			for i := 0; i < len(t); i++ {
				if t[i]|0x20 != "close"[i] {
					eq = false
					break
				}
			}
			if eq {
				return true
			}
		}
	}
	return false
}
