package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// A fleet's history pages merge every node's, newest first. Their cursor
// is a composite of per-node positions: for sessions, the node's own
// cursor and how many rows after it were already consumed (a node's
// cursors are opaque, and a merged page may take only part of a node's
// page); for audit, the id below which the node's next entries are.

// pos is a node's position in a merged listing of sessions.
type pos struct {
	Cursor string `json:"c,omitempty"`
	Skip   int    `json:"s,omitempty"`
	Done   bool   `json:"d,omitempty"`
}

type (
	filterArgs struct {
		Since      time.Time        `json:"since"`
		Until      time.Time        `json:"until"`
		User       string           `json:"user"`
		Route      string           `json:"route"`
		CloseCode  int              `json:"close_code"`
		ClosedBy   session.ClosedBy `json:"closed_by"`
		Selector   string           `json:"selector"`
		RemoteAddr string           `json:"remote_addr"`
	}
	sessionsArgs struct {
		Filter filterArgs `json:"filter"`
		From   pos        `json:"from"`
		Limit  int        `json:"limit"`
	}
	sessionsAnswer struct {
		Rows  []session.Record `json:"rows"`
		After []pos            `json:"after"` // the position after each row
	}
	auditArgs struct {
		Since    time.Time `json:"since"`
		Until    time.Time `json:"until"`
		BeforeID int64     `json:"before_id"`
		Limit    int       `json:"limit"`
	}
)

func (n *Node) serveSessions(ctx context.Context, a sessionsArgs) (any, error) {
	sel, err := session.ParseSelector(a.Filter.Selector)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", session.ErrInvalidFilter, err)
	}
	f := session.Filter{
		Since: a.Filter.Since, Until: a.Filter.Until, User: a.Filter.User, Route: a.Filter.Route,
		CloseCode: a.Filter.CloseCode, ClosedBy: a.Filter.ClosedBy, Selector: sel, RemoteAddr: a.Filter.RemoteAddr,
	}
	limit := min(max(a.Limit, 1), session.MaxLimit)
	out := sessionsAnswer{Rows: []session.Record{}, After: []pos{}}
	cur, skip := a.From.Cursor, a.From.Skip
	// Bounded: each round consumes a page or ends.
	for range 1000 {
		f.Before, f.Limit = cur, min(session.MaxLimit, skip+limit-len(out.Rows))
		page, err := n.hist.ListSessions(ctx, f)
		if err != nil {
			return nil, err
		}
		for i, r := range page.Sessions {
			if i < skip {
				continue
			}
			after := pos{Cursor: cur, Skip: i + 1}
			if i+1 == len(page.Sessions) {
				after = pos{Cursor: page.Next, Done: page.Next == ""}
			}
			out.Rows = append(out.Rows, r)
			out.After = append(out.After, after)
			if len(out.Rows) == limit {
				return out, nil
			}
		}
		if page.Next == "" {
			return out, nil
		}
		skip = max(0, skip-len(page.Sessions))
		cur = page.Next
	}
	return out, nil
}

func (n *Node) serveAudit(ctx context.Context, a auditArgs) (any, error) {
	es, err := n.hist.ListAudit(ctx, session.AuditFilter{Since: a.Since, Until: a.Until, BeforeID: a.BeforeID, Limit: a.Limit})
	if es == nil && err == nil {
		es = []session.AuditEntry{}
	}
	return es, err
}

func (n *Node) serveGetSession(ctx context.Context, a idArgs) (any, error) {
	return n.hist.GetSession(ctx, a.ID)
}

func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: maps of plain structs
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("%w: cursor %q is not one this fleet made", session.ErrInvalidFilter, s)
	}
	return nil
}

// FleetSessions lists the fleet's sessions, newest first, merged from
// every node's history.
func (n *Node) FleetSessions(ctx context.Context, f session.Filter) (session.Page, apitype.Fleet, error) {
	limit := f.Limit
	switch {
	case limit < 0:
		return session.Page{}, apitype.Fleet{}, fmt.Errorf("%w: negative limit", session.ErrInvalidFilter)
	case limit == 0:
		limit = session.DefaultLimit
	case limit > session.MaxLimit:
		limit = session.MaxLimit
	}
	var from map[string]pos
	var targets []string // nil: every node (first page)
	if f.Before != "" {
		if err := decodeCursor(f.Before, &from); err != nil {
			return session.Page{}, apitype.Fleet{}, err
		}
		for name, p := range from {
			if !p.Done {
				targets = append(targets, name)
			}
		}
		slices.Sort(targets)
		if len(targets) == 0 {
			return session.Page{Sessions: []session.Record{}}, apitype.Fleet{}, nil
		}
	}
	fa := filterArgs{
		Since: f.Since, Until: f.Until, User: f.User, Route: f.Route, CloseCode: f.CloseCode,
		ClosedBy: f.ClosedBy, Selector: f.Selector.String(), RemoteAddr: f.RemoteAddr,
	}
	// Each node gets its own position: one request per node.
	type got struct {
		node string
		ans  sessionsAnswer
	}
	var (
		results []got
		fleet   apitype.Fleet
	)
	var a answers
	if targets == nil {
		a = n.gather(ctx, opSessions, sessionsArgs{Filter: fa, Limit: limit}, nil)
		from = map[string]pos{}
	} else {
		a = n.gatherEach(ctx, opSessions, targets, func(t string) any {
			return sessionsArgs{Filter: fa, From: from[t], Limit: limit}
		})
	}
	fleet = a.fleet()
	if err := a.firstErr(); err != nil {
		return session.Page{}, fleet, err
	}
	for _, name := range a.nodes() {
		ans, err := decode[sessionsAnswer](a.replies[name])
		if err != nil {
			return session.Page{}, fleet, err
		}
		results = append(results, got{name, ans})
	}

	type row struct {
		rec   session.Record
		node  string
		after pos
	}
	var rows []row
	for _, g := range results {
		if len(g.ans.Rows) == 0 {
			from[g.node] = pos{Done: true}
			continue
		}
		for i, r := range g.ans.Rows {
			if r.Node == "" {
				r.Node = g.node
			}
			rows = append(rows, row{r, g.node, g.ans.After[i]})
		}
		if _, ok := from[g.node]; !ok {
			from[g.node] = pos{}
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if c := y.rec.ConnectedAt.Compare(x.rec.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(y.rec.ID, x.rec.ID)
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	page := session.Page{Sessions: make([]session.Record, len(rows))}
	for i, r := range rows {
		page.Sessions[i] = r.rec
		from[r.node] = r.after
	}
	for _, p := range from {
		if !p.Done {
			page.Next = encodeCursor(from)
			break
		}
	}
	return page, fleet, nil
}

// ListSessions is FleetSessions without the partial flag (admin's History).
func (n *Node) ListSessions(ctx context.Context, f session.Filter) (session.Page, error) {
	p, _, err := n.FleetSessions(ctx, f)
	return p, err
}

// GetSession returns a session from the history of the node its id names
// (or any node's).
func (n *Node) GetSession(ctx context.Context, id string) (session.Record, error) {
	r, err := n.call(ctx, opGetSession, id, idArgs{ID: id}, session.ErrNotFound)
	if err != nil {
		return session.Record{}, err
	}
	return decode[session.Record](r)
}

// FleetAudit lists the fleet's audit entries, newest first, merged from
// every node's log; nodes[i] names the node that wrote entries[i] (the
// node that received the call). before is the cursor of a previous page
// ("" for the first), next the following page's.
func (n *Node) FleetAudit(ctx context.Context, f session.AuditFilter, before string) (entries []session.AuditEntry, nodes []string, next string, fleet apitype.Fleet, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = session.DefaultLimit
	}
	limit = min(limit, session.MaxLimit)
	from := map[string]int64{} // node → BeforeID; -1: done
	var targets []string
	if before != "" {
		if err := decodeCursor(before, &from); err != nil {
			return nil, nil, "", fleet, err
		}
		for name, id := range from {
			if id >= 0 {
				targets = append(targets, name)
			}
		}
		slices.Sort(targets)
		if len(targets) == 0 {
			return []session.AuditEntry{}, []string{}, "", fleet, nil
		}
	}
	type got struct {
		node string
		es   []session.AuditEntry
	}
	var results []got
	var a answers
	if targets == nil {
		a = n.gather(ctx, opAudit, auditArgs{Since: f.Since, Until: f.Until, Limit: limit}, nil)
	} else {
		a = n.gatherEach(ctx, opAudit, targets, func(t string) any {
			return auditArgs{Since: f.Since, Until: f.Until, BeforeID: from[t], Limit: limit}
		})
	}
	fleet = a.fleet()
	if err := a.firstErr(); err != nil {
		return nil, nil, "", fleet, err
	}
	for _, name := range a.nodes() {
		es, err := decode[[]session.AuditEntry](a.replies[name])
		if err != nil {
			return nil, nil, "", fleet, err
		}
		results = append(results, got{name, es})
	}
	type row struct {
		e    session.AuditEntry
		node string
	}
	var rows []row
	returned := map[string]int{}
	for _, g := range results {
		returned[g.node] = len(g.es)
		if _, ok := from[g.node]; !ok {
			from[g.node] = 0 // from the newest
		}
		for _, e := range g.es {
			rows = append(rows, row{e, g.node})
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if c := y.e.At.Compare(x.e.At); c != 0 {
			return c
		}
		if c := strings.Compare(y.node, x.node); c != 0 {
			return c
		}
		switch {
		case x.e.ID > y.e.ID:
			return -1
		case x.e.ID < y.e.ID:
			return 1
		}
		return 0
	})
	rows = rows[:min(len(rows), limit)]
	entries, nodes = make([]session.AuditEntry, len(rows)), make([]string, len(rows))
	consumed := map[string]int{}
	for i, r := range rows {
		entries[i], nodes[i] = r.e, r.node
		from[r.node] = r.e.ID
		consumed[r.node]++
	}
	for node, k := range returned {
		if k < limit && consumed[node] == k {
			from[node] = -1 // nothing older on this node
		}
	}
	for _, id := range from {
		if id >= 0 {
			next = encodeCursor(from)
			break
		}
	}
	return entries, nodes, next, fleet, nil
}

// ListAudit is FleetAudit's first page (admin's History; its cursor is a
// single node's id, so it cannot page a fleet: the admin API uses
// FleetAudit).
func (n *Node) ListAudit(ctx context.Context, f session.AuditFilter) ([]session.AuditEntry, error) {
	if f.BeforeID != 0 {
		return n.hist.ListAudit(ctx, f)
	}
	es, _, _, _, err := n.FleetAudit(ctx, f, "")
	return es, err
}

// RecordAudit writes an audit entry to this node's log: the node that
// received the call.
func (n *Node) RecordAudit(a session.AuditEntry) { n.hist.RecordAudit(a) }

// Health is this node's history's.
func (n *Node) Health() session.Health { return n.hist.Health() }
