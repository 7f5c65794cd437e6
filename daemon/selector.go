package daemon

import (
	"fmt"
	"strings"
)

// Built-in selector fields. Any other key names a label.
const (
	FieldID         = "id"
	FieldUser       = "user"
	FieldRoute      = "route"
	FieldRemoteAddr = "remote_addr"
)

// Selector picks connections, kubectl style: requirements joined by commas,
// all of which must hold ("room=lobby,user!=bot,route=/chat"). `=` (or `==`)
// and `!=` compare a built-in field (id, user, route, remote_addr) or a
// label. A label that is absent compares as the empty string, so
// "room!=lobby" matches connections without a room label.
//
// The zero Selector is empty: Match accepts every connection, and
// destructive bulk operations refuse it unless all connections are asked
// for explicitly (the selector "all", or an all flag).
type Selector struct {
	reqs []requirement
	all  bool
}

type requirement struct {
	key   string
	value string
	not   bool
}

// maxSelectorLen bounds what ParseSelector accepts.
const maxSelectorLen = 4096

// ParseSelector parses a selector. The empty string (or only spaces) is the
// empty selector; "all" selects every connection explicitly.
func ParseSelector(s string) (Selector, error) {
	if len(s) > maxSelectorLen {
		return Selector{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidSelector, maxSelectorLen)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Selector{}, nil
	}
	if s == "all" {
		return Selector{all: true}, nil
	}
	var sel Selector
	for part := range strings.SplitSeq(s, ",") {
		r, err := parseRequirement(part)
		if err != nil {
			return Selector{}, err
		}
		sel.reqs = append(sel.reqs, r)
	}
	return sel, nil
}

func parseRequirement(part string) (requirement, error) {
	i := strings.IndexAny(part, "=!")
	if i < 0 {
		return requirement{}, fmt.Errorf("%w: %q has no = or !=", ErrInvalidSelector, strings.TrimSpace(part))
	}
	r := requirement{key: strings.TrimSpace(part[:i])}
	rest := part[i:]
	switch {
	case strings.HasPrefix(rest, "!="):
		r.not, rest = true, rest[2:]
	case strings.HasPrefix(rest, "=="):
		rest = rest[2:]
	case strings.HasPrefix(rest, "="):
		rest = rest[1:]
	default:
		return requirement{}, fmt.Errorf("%w: %q: expected = or != after %q", ErrInvalidSelector, strings.TrimSpace(part), r.key)
	}
	if err := checkSelectorKey(r.key); err != nil {
		return requirement{}, err
	}
	r.value = strings.TrimSpace(rest)
	if strings.ContainsAny(r.value, "=!") {
		return requirement{}, fmt.Errorf("%w: value %q of %q may not contain = or ! characters", ErrInvalidSelector, r.value, r.key)
	}
	return r, nil
}

// checkSelectorKey accepts label-like keys: letters, digits and "-_./",
// starting with a letter or digit, at most 63 bytes.
func checkSelectorKey(k string) error {
	if k == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidSelector)
	}
	if len(k) > 63 {
		return fmt.Errorf("%w: key %q is longer than 63 bytes", ErrInvalidSelector, k)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.' && c != '/') {
			return fmt.Errorf("%w: key %q: letters, digits and - _ . / only, starting with a letter or digit", ErrInvalidSelector, k)
		}
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
		b.WriteString(r.key)
		if r.not {
			b.WriteString("!=")
		} else {
			b.WriteByte('=')
		}
		b.WriteString(r.value)
	}
	return b.String()
}

// fieldSource is what a selector is matched against.
type fieldSource interface {
	// selectorField returns the value of a built-in field or label, and
	// whether it is present.
	selectorField(key string) string
}

// match reports whether every requirement holds for f.
func (s Selector) match(f fieldSource) bool {
	for _, r := range s.reqs {
		if (f.selectorField(r.key) == r.value) == r.not {
			return false
		}
	}
	return true
}

// MatchFields matches against a plain set of fields and labels, for callers
// outside the daemon (tests, a future cluster peer).
func (s Selector) MatchFields(id, user, route, remoteAddr string, labels map[string]string) bool {
	return s.match(staticFields{id: id, user: user, route: route, remote: remoteAddr, labels: labels})
}

type staticFields struct {
	id, user, route, remote string
	labels                  map[string]string
}

func (f staticFields) selectorField(key string) string {
	switch key {
	case FieldID:
		return f.id
	case FieldUser:
		return f.user
	case FieldRoute:
		return f.route
	case FieldRemoteAddr:
		return f.remote
	}
	return f.labels[key]
}
