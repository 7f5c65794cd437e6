package session

import (
	"fmt"
	"slices"
	"strings"
)

// Built-in selector fields. Any other key names a label.
const (
	FieldID         = "id"
	FieldUser       = "user"
	FieldRoute      = "route"
	FieldRemoteAddr = "remote_addr"
)

// SelectorGrammar states what ParseSelector accepts; its errors end with
// it.
const SelectorGrammar = "requirements joined by commas, each KEY=VALUE, KEY!=VALUE, KEY in (V1,V2), " +
	"KEY notin (V1,V2), KEY (present) or !KEY (absent); or all"

// maxSelectorLen bounds what ParseSelector accepts.
const maxSelectorLen = 4096

// Selector picks connections, kubectl style: requirements joined by
// commas, all of which must hold ("room in (lobby,hall),user!=bot,!muted").
// A requirement names a built-in field (id, user, route, remote_addr) or a
// label:
//
//	KEY=VALUE, KEY==VALUE  the value is VALUE
//	KEY!=VALUE             the value is not VALUE (or the key is absent)
//	KEY in (V1,V2,...)     the value is one of the list
//	KEY notin (V1,V2,...)  the value is none of the list (or the key is absent)
//	KEY                    the key is present
//	!KEY                   the key is absent
//
// A built-in field is present when it is not empty. An absent label
// compares as the empty string, so "room=" matches connections without a
// room label.
//
// The zero Selector is empty: Match accepts every connection, and
// destructive bulk operations refuse it unless all connections are asked
// for explicitly (the selector "all", or an all flag).
type Selector struct {
	reqs []requirement
	all  bool
}

type operator uint8

const (
	opEquals operator = iota
	opNotEquals
	opIn
	opNotIn
	opExists
	opNotExists
)

type requirement struct {
	key    string
	op     operator
	values []string // one for = and !=, one or more for in and notin
}

// Fields is what a selector is matched against: Field returns the value of
// a built-in field or a label and whether it is present.
type Fields interface {
	Field(key string) (value string, ok bool)
}

// ParseSelector parses a selector (see Selector). The empty string (or
// only spaces) is the empty selector; "all" selects every connection
// explicitly. Its errors wrap ErrInvalidSelector.
func ParseSelector(s string) (Selector, error) {
	if len(s) > maxSelectorLen {
		return Selector{}, selectorErr("longer than %d bytes", maxSelectorLen)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Selector{}, nil
	}
	if s == "all" {
		return Selector{all: true}, nil
	}
	var sel Selector
	for s != "" {
		part, rest, err := nextRequirement(s)
		if err != nil {
			return Selector{}, err
		}
		r, err := parseRequirement(part)
		if err != nil {
			return Selector{}, err
		}
		sel.reqs = append(sel.reqs, r)
		s = rest
	}
	return sel, nil
}

func selectorErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s (a selector is %s)", ErrInvalidSelector, fmt.Sprintf(format, args...), SelectorGrammar)
}

// nextRequirement splits s at its first comma outside parentheses.
func nextRequirement(s string) (part, rest string, err error) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
			if depth > 1 {
				return "", "", selectorErr("nested parentheses in %q", s)
			}
		case ')':
			depth--
			if depth < 0 {
				return "", "", selectorErr("unbalanced ) in %q", s)
			}
		case ',':
			if depth == 0 {
				rest = strings.TrimSpace(s[i+1:])
				if rest == "" {
					return "", "", selectorErr("trailing comma")
				}
				return s[:i], rest, nil
			}
		}
	}
	if depth != 0 {
		return "", "", selectorErr("unclosed ( in %q", s)
	}
	return s, "", nil
}

func parseRequirement(part string) (requirement, error) {
	part = strings.TrimSpace(part)
	if part == "" {
		return requirement{}, selectorErr("empty requirement")
	}
	// Set membership: KEY in (...), KEY notin (...).
	if open := strings.IndexByte(part, '('); open >= 0 {
		head := strings.Fields(part[:open])
		if len(head) != 2 || (head[1] != "in" && head[1] != "notin") {
			return requirement{}, selectorErr("%q: a list needs KEY in (…) or KEY notin (…)", part)
		}
		if !strings.HasSuffix(part, ")") {
			return requirement{}, selectorErr("%q: text after the closing )", part)
		}
		r := requirement{key: head[0], op: opIn}
		if head[1] == "notin" {
			r.op = opNotIn
		}
		if err := checkSelectorKey(r.key); err != nil {
			return requirement{}, err
		}
		for v := range strings.SplitSeq(part[open+1:len(part)-1], ",") {
			v = strings.TrimSpace(v)
			if err := checkSelectorValue(r.key, v); err != nil {
				return requirement{}, err
			}
			if !slices.Contains(r.values, v) {
				r.values = append(r.values, v)
			}
		}
		return r, nil
	}
	i := strings.IndexAny(part, "=!")
	switch {
	case i < 0:
		if part == "all" {
			return requirement{}, selectorErr("all selects every connection and stands alone")
		}
		r := requirement{key: part, op: opExists}
		return r, checkSelectorKey(r.key)
	case i == 0 && part[0] == '!' && !strings.HasPrefix(part, "!="):
		r := requirement{key: strings.TrimSpace(part[1:]), op: opNotExists}
		return r, checkSelectorKey(r.key)
	}
	r := requirement{key: strings.TrimSpace(part[:i])}
	rest := part[i:]
	switch {
	case strings.HasPrefix(rest, "!="):
		r.op, rest = opNotEquals, rest[2:]
	case strings.HasPrefix(rest, "=="):
		r.op, rest = opEquals, rest[2:]
	case strings.HasPrefix(rest, "="):
		r.op, rest = opEquals, rest[1:]
	default:
		return requirement{}, selectorErr("%q: expected =, != or a list after %q", part, r.key)
	}
	if err := checkSelectorKey(r.key); err != nil {
		return requirement{}, err
	}
	v := strings.TrimSpace(rest)
	if err := checkSelectorValue(r.key, v); err != nil {
		return requirement{}, err
	}
	r.values = []string{v}
	return r, nil
}

// CheckKey reports whether k can name a label a selector can pick
// (letters, digits and - _ . /, starting with a letter or digit, at most
// 63 bytes); its error wraps ErrInvalidSelector.
func CheckKey(k string) error { return checkSelectorKey(k) }

// checkSelectorKey accepts label-like keys: letters, digits and "-_./",
// starting with a letter or digit, at most 63 bytes.
func checkSelectorKey(k string) error {
	if k == "" {
		return selectorErr("empty key")
	}
	if len(k) > 63 {
		return selectorErr("key %q is longer than 63 bytes", k)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.' && c != '/') {
			return selectorErr("key %q: letters, digits and - _ . / only, starting with a letter or digit", k)
		}
	}
	return nil
}

func checkSelectorValue(key, v string) error {
	if strings.ContainsAny(v, "=!(),") {
		return selectorErr("value %q of %q may not contain = ! ( ) or ,", v, key)
	}
	return nil
}

// Empty reports whether the selector has no requirement and is not "all".
func (s Selector) Empty() bool { return len(s.reqs) == 0 && !s.all }

// All reports whether the selector is the explicit "all".
func (s Selector) All() bool { return s.all }

// String returns the canonical form, which ParseSelector accepts.
func (s Selector) String() string {
	if s.all {
		return "all"
	}
	var b strings.Builder
	for i, r := range s.reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		switch r.op {
		case opEquals:
			b.WriteString(r.key + "=" + r.values[0])
		case opNotEquals:
			b.WriteString(r.key + "!=" + r.values[0])
		case opIn, opNotIn:
			b.WriteString(r.key)
			if r.op == opIn {
				b.WriteString(" in (")
			} else {
				b.WriteString(" notin (")
			}
			b.WriteString(strings.Join(r.values, ","))
			b.WriteByte(')')
		case opExists:
			b.WriteString(r.key)
		case opNotExists:
			b.WriteString("!" + r.key)
		}
	}
	return b.String()
}

// Match reports whether every requirement holds for f. The empty and the
// "all" selector match everything.
func (s Selector) Match(f Fields) bool {
	for _, r := range s.reqs {
		v, ok := f.Field(r.key)
		var hold bool
		switch r.op {
		case opEquals:
			hold = v == r.values[0]
		case opNotEquals:
			hold = v != r.values[0]
		case opIn:
			hold = ok && slices.Contains(r.values, v)
		case opNotIn:
			hold = !ok || !slices.Contains(r.values, v)
		case opExists:
			hold = ok
		case opNotExists:
			hold = !ok
		}
		if !hold {
			return false
		}
	}
	return true
}

// Field makes a Conn matchable by a Selector: the built-in fields are
// present when not empty, labels when set.
func (c Conn) Field(key string) (string, bool) {
	var v string
	switch key {
	case FieldID:
		v = c.ID
	case FieldUser:
		v = c.User
	case FieldRoute:
		v = c.Route
	case FieldRemoteAddr:
		v = c.RemoteAddr
	default:
		v, ok := c.Labels[key]
		return v, ok
	}
	return v, v != ""
}
