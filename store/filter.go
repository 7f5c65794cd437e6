package store

import (
	"net/netip"
	"strings"

	"github.com/wsd-dev/wsd/session"
)

// selectorWhere translates sel into SQL conditions on the sessions table,
// joined by AND, and their arguments: a row satisfies them exactly when
// sel.Match holds for the session.Record read from it. Built-in fields
// are columns (present when not ”; user and route have indexes); labels
// are looked up in the labels JSON, where an absent key is NULL.
func selectorWhere(sel session.Selector) (where []string, args []any) {
	for _, r := range sel.Requirements() {
		if session.IsField(r.Key) {
			// The key is one of four column names (IsField), never text
			// from the caller.
			col, present, absent := r.Key, r.Key+" != ''", r.Key+" = ''"
			switch r.Op {
			case session.OpEquals:
				where, args = append(where, r.Key+" = ?"), append(args, r.Values[0])
			case session.OpNotEquals:
				where, args = append(where, r.Key+" != ?"), append(args, r.Values[0])
			case session.OpIn:
				cond, in := inList(col, r.Values)
				if hasEmpty(r.Values) {
					cond = "(" + cond + " AND " + present + ")"
				}
				where, args = append(where, cond), append(args, in...)
			case session.OpNotIn:
				cond, in := inList(col, r.Values)
				if !hasEmpty(r.Values) {
					cond = "NOT (" + cond + ")"
				} else {
					cond = "(" + absent + " OR NOT (" + cond + "))"
				}
				where, args = append(where, cond), append(args, in...)
			case session.OpExists:
				where = append(where, present)
			case session.OpNotExists:
				where = append(where, absent)
			}
			continue
		}
		// Selector keys hold only letters, digits and "-_./", so the
		// quoted JSON path is always well formed; it is bound, not
		// spliced.
		path := `$."` + r.Key + `"`
		const label = "json_extract(labels, ?)"
		switch r.Op {
		case session.OpEquals:
			where, args = append(where, "coalesce("+label+", '') = ?"), append(args, path, r.Values[0])
		case session.OpNotEquals:
			where, args = append(where, "coalesce("+label+", '') != ?"), append(args, path, r.Values[0])
		case session.OpIn:
			cond, in := inList(label, r.Values)
			where, args = append(where, cond), append(append(args, path), in...)
		case session.OpNotIn:
			cond, in := inList(label, r.Values)
			where = append(where, "coalesce(NOT ("+cond+"), true)")
			args = append(append(args, path), in...)
		case session.OpExists:
			where, args = append(where, label+" IS NOT NULL"), append(args, path)
		case session.OpNotExists:
			where, args = append(where, label+" IS NULL"), append(args, path)
		}
	}
	return where, args
}

// inList returns "expr IN (?, ...)" and the values as arguments.
func inList(expr string, values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return expr + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ") + ")", args
}

func hasEmpty(values []string) bool {
	for _, v := range values {
		if v == "" {
			return true
		}
	}
	return false
}

// remoteWhere is the condition of Filter.RemoteAddr: for an IP, its
// addresses with any port ("IP:port", "[IP]:port" for IPv6) or the IP
// alone; for anything else, that exact address.
func remoteWhere(remote string) (string, []any) {
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(remote, "["), "]"))
	if err != nil {
		return "remote_addr = ?", []any{remote}
	}
	ip = ip.Unmap()     // net writes ::ffff:192.0.2.1 as 192.0.2.1
	host := ip.String() // the canonical form, as net writes addresses
	prefix := host + ":"
	if ip.Is6() {
		prefix = "[" + host + "]:"
	}
	// LIKE's wildcards cannot appear in an IP, but an address is escaped
	// all the same; LIKE is case-insensitive for ASCII, which IPv6 hex
	// digits may as well be.
	return `(remote_addr = ? OR remote_addr LIKE ? ESCAPE '\')`, []any{host, escapeLike(prefix) + "%"}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
