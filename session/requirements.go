package session

import "slices"

// Op is the operator of a selector requirement (see Selector).
type Op string

// Selector operators, as Requirement reports them.
const (
	OpEquals    Op = "="     // the value is Values[0]; an absent key is ""
	OpNotEquals Op = "!="    // the value is not Values[0]; an absent key is ""
	OpIn        Op = "in"    // the key is present and its value is one of Values
	OpNotIn     Op = "notin" // the key is absent or its value is none of Values
	OpExists    Op = "exists"
	OpNotExists Op = "!exists"
)

// Requirement is one requirement of a Selector, for code that evaluates
// selectors elsewhere than Match (history translates them to SQL). It must
// mean exactly what Match does.
type Requirement struct {
	// Key is a built-in field (IsField) or a label.
	Key string
	Op  Op
	// Values holds one value for OpEquals and OpNotEquals, one or more for
	// OpIn and OpNotIn, none otherwise.
	Values []string
}

// Requirements returns a copy of the selector's requirements, in order;
// none for the empty and the "all" selector, which match everything.
func (s Selector) Requirements() []Requirement {
	if len(s.reqs) == 0 {
		return nil
	}
	out := make([]Requirement, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = Requirement{Key: r.key, Op: r.op.public(), Values: slices.Clone(r.values)}
	}
	return out
}

func (o operator) public() Op {
	switch o {
	case opEquals:
		return OpEquals
	case opNotEquals:
		return OpNotEquals
	case opIn:
		return OpIn
	case opNotIn:
		return OpNotIn
	case opExists:
		return OpExists
	case opNotExists:
		return OpNotExists
	}
	panic("session: unknown selector operator")
}

// IsField reports whether key names a built-in field (id, user, route,
// remote_addr) rather than a label. A built-in field is present when it is
// not empty.
func IsField(key string) bool {
	switch key {
	case FieldID, FieldUser, FieldRoute, FieldRemoteAddr:
		return true
	}
	return false
}
