package protocol

import "unicode/utf8"

// utf8State is an incremental UTF-8 validator (RFC 3629) for text messages
// that arrive in pieces: it accepts a byte stream cut anywhere and reports an
// invalid sequence as soon as the bytes seen so far cannot begin a valid
// sequence, so a connection can be failed before the rest of a message
// arrives (RFC 6455 §8.1, Autobahn case group 6).
//
// The bulk of each piece is checked with utf8.Valid, which has an ASCII fast
// path; only the bytes of a sequence split across pieces go through the byte
// automaton below.
type utf8State uint8

// Automaton states: the number of continuation bytes still expected, and for
// the lead bytes with a restricted second byte (E0, ED, F0, F4) a state that
// checks that second byte.
const (
	u8Accept utf8State = iota
	u8Need1            // one continuation byte 80..BF
	u8Need2            // two continuation bytes
	u8Need3            // three continuation bytes
	u8E0               // after E0: A0..BF, then one more
	u8ED               // after ED: 80..9F (no surrogates), then one more
	u8F0               // after F0: 90..BF, then two more
	u8F4               // after F4: 80..8F (≤ U+10FFFF), then two more
	u8Reject
)

// step advances the automaton by one byte.
func (s utf8State) step(c byte) utf8State {
	switch s {
	case u8Accept:
		switch {
		case c < 0x80:
			return u8Accept
		case c >= 0xC2 && c <= 0xDF:
			return u8Need1
		case c == 0xE0:
			return u8E0
		case c == 0xED:
			return u8ED
		case c >= 0xE1 && c <= 0xEF:
			return u8Need2
		case c == 0xF0:
			return u8F0
		case c >= 0xF1 && c <= 0xF3:
			return u8Need3
		case c == 0xF4:
			return u8F4
		}
		return u8Reject
	case u8Need1, u8Need2, u8Need3:
		if c >= 0x80 && c <= 0xBF {
			return s - 1
		}
	case u8E0:
		if c >= 0xA0 && c <= 0xBF {
			return u8Need1
		}
	case u8ED:
		if c >= 0x80 && c <= 0x9F {
			return u8Need1
		}
	case u8F0:
		if c >= 0x90 && c <= 0xBF {
			return u8Need2
		}
	case u8F4:
		if c >= 0x80 && c <= 0x8F {
			return u8Need2
		}
	}
	return u8Reject
}

// seqLen is the length of the sequence a lead byte starts, 0 for a byte that
// cannot start one.
func seqLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}

// feed validates the next piece p and returns the new state. The result is
// u8Reject as soon as p makes the stream invalid.
func (s utf8State) feed(p []byte) utf8State {
	// Finish a sequence left open by the previous piece.
	for s != u8Accept {
		if s == u8Reject || len(p) == 0 {
			return s
		}
		s = s.step(p[0])
		p = p[1:]
	}
	// Find where the last, possibly incomplete, sequence starts: a lead
	// byte among the last three bytes whose sequence runs past the end.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 {
			if n := seqLen(c); n == 0 || i+n > len(p) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return u8Reject
	}
	for _, c := range p[cut:] {
		s = s.step(c)
	}
	return s
}

// complete reports whether the stream ended on a sequence boundary.
func (s utf8State) complete() bool { return s == u8Accept }
