package protocol

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// keyGUID is the fixed GUID of RFC 6455 §1.3.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptLen is the length of a Sec-WebSocket-Accept value: a SHA-1 sum in
// padded base64.
const acceptLen = (sha1.Size + 2) / 3 * 4

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	a := acceptBytes(key)
	return string(a[:])
}

// acceptBytes is acceptKey without a string allocation, for the server's
// response.
func acceptBytes(key string) [acceptLen]byte {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(keyGUID))
	var sum [sha1.Size]byte
	var a [acceptLen]byte
	base64.StdEncoding.Encode(a[:], h.Sum(sum[:0]))
	return a
}

// validKey reports whether key is the base64 encoding of exactly 16 bytes
// (RFC 6455 §4.1, item 7).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(key))
	return err == nil && n == 16
}

// Header names in their canonical form (textproto.CanonicalMIMEHeaderKey),
// the keys of a parsed http.Header: looking them up directly spares
// canonicalizing (and, for the Sec-WebSocket-* names, allocating) the name
// on every handshake. headerHasToken and headerTokens take these.
const (
	hConnection = "Connection"
	hUpgrade    = "Upgrade"
	hOrigin     = "Origin"
	hVersion    = "Sec-Websocket-Version"
	hKey        = "Sec-Websocket-Key"
	hAccept     = "Sec-Websocket-Accept"
	hProtocol   = "Sec-Websocket-Protocol"
	hExtensions = "Sec-Websocket-Extensions"
)

// headerHasToken reports whether any of the comma-separated lists in the
// header's values holds token, compared case-insensitively (RFC 7230 §3.2.6,
// §6.1: Connection and Upgrade are token lists).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the non-empty elements of the comma-separated lists in
// the header's values, trimmed.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// isToken reports whether s is an RFC 7230 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

// Extension is one element of a Sec-WebSocket-Extensions header (RFC 6455
// §9.1): a name and its parameters, in order.
type Extension struct {
	Name   string
	Params []ExtensionParam
}

// ExtensionParam is an extension parameter; Value is "" when HasValue is false.
type ExtensionParam struct {
	Name     string
	Value    string
	HasValue bool
}

// String formats the extension for a Sec-WebSocket-Extensions header.
func (e Extension) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	for _, p := range e.Params {
		b.WriteString("; ")
		b.WriteString(p.Name)
		if p.HasValue {
			b.WriteByte('=')
			if isToken(p.Value) {
				b.WriteString(p.Value)
			} else {
				b.WriteString(`"` + p.Value + `"`)
			}
		}
	}
	return b.String()
}

func formatExtensions(exts []Extension) string {
	parts := make([]string, len(exts))
	for i, e := range exts {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

// ParseExtensions parses the values of Sec-WebSocket-Extensions headers:
//
//	extension-list = 1#extension
//	extension      = token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// A quoted value must itself be a token once unquoted (§9.1).
func ParseExtensions(values []string) ([]Extension, error) {
	var out []Extension
	for _, v := range values {
		p := extParser{s: v}
		for {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() == ',' { // empty list element, allowed by #rule
				p.i++
				continue
			}
			ext, err := p.extension()
			if err != nil {
				return nil, fmt.Errorf("Sec-WebSocket-Extensions %q: %w", v, err)
			}
			out = append(out, ext)
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() != ',' {
				return nil, fmt.Errorf("Sec-WebSocket-Extensions %q: unexpected %q at %d", v, p.peek(), p.i)
			}
			p.i++
		}
	}
	return out, nil
}

type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

func (p *extParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *extParser) extension() (Extension, error) {
	var e Extension
	if e.Name = p.token(); e.Name == "" {
		return e, fmt.Errorf("missing extension name at %d", p.i)
	}
	for {
		p.skipSpace()
		if p.done() || p.peek() != ';' {
			return e, nil
		}
		p.i++
		p.skipSpace()
		var prm ExtensionParam
		if prm.Name = p.token(); prm.Name == "" {
			return e, fmt.Errorf("missing parameter name at %d", p.i)
		}
		p.skipSpace()
		if !p.done() && p.peek() == '=' {
			p.i++
			p.skipSpace()
			prm.HasValue = true
			if !p.done() && p.peek() == '"' {
				v, err := p.quoted()
				if err != nil {
					return e, err
				}
				prm.Value = v
			} else {
				prm.Value = p.token()
			}
			if !isToken(prm.Value) {
				return e, fmt.Errorf("parameter %s has a value that is not a token", prm.Name)
			}
		}
		e.Params = append(e.Params, prm)
	}
}

func (p *extParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("unterminated quoted string")
			}
			c = p.s[p.i]
			p.i++
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("unterminated quoted string")
}
