package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// seedSessions records n sessions with a spread of users, routes, close
// codes and closers; every fifth pair shares a connected_at so the id
// tie-break is exercised. It returns the rows as the store should hold them.
func seedSessions(t *testing.T, s *Store, n int) []session.Record {
	t.Helper()
	users := []string{"alice", "bob", "carol"}
	routes := []string{"/chat", "/feed"}
	closers := []struct {
		code int
		by   session.ClosedBy
	}{{1000, session.ClosedByClient}, {1001, session.ClosedByShutdown}, {4408, session.ClosedBySlowConsumer}, {0, ""}}
	var want []session.Record
	for i := range n {
		connected := at(time.Duration(i-i%2) * time.Minute) // pairs share a time
		o := session.Open{
			ID:          fmt.Sprintf("s%04d", i),
			Route:       routes[i%len(routes)],
			User:        users[i%len(users)],
			ConnectedAt: connected,
		}
		s.RecordOpen(o)
		row := session.Record{ID: o.ID, Route: o.Route, User: o.User, ConnectedAt: connected, Labels: map[string]string{}, Node: "test-node"}
		if c := closers[i%len(closers)]; c.by != "" {
			closedAt := connected.Add(30 * time.Second)
			s.RecordClose(session.Close{ID: o.ID, ClosedAt: closedAt, CloseCode: c.code, ClosedBy: c.by})
			row.ClosedAt, row.CloseCode, row.ClosedBy = closedAt, c.code, c.by
		}
		want = append(want, row)
	}
	flush(t, s)
	slices.SortFunc(want, func(a, b session.Record) int { // newest first
		return cmp.Or(b.ConnectedAt.Compare(a.ConnectedAt), cmp.Compare(b.ID, a.ID))
	})
	return want
}

func ids(ss []session.Record) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestListSessionsFilters(t *testing.T) {
	s := testStore(t, nil)
	all := seedSessions(t, s, 150)
	ctx := context.Background()

	tests := []struct {
		name  string
		f     session.Filter
		match func(session.Record) bool
	}{
		{"no filter", session.Filter{Limit: session.MaxLimit}, func(session.Record) bool { return true }},
		{"user", session.Filter{User: "bob", Limit: session.MaxLimit}, func(x session.Record) bool { return x.User == "bob" }},
		{"route", session.Filter{Route: "/feed", Limit: session.MaxLimit}, func(x session.Record) bool { return x.Route == "/feed" }},
		{"close code", session.Filter{CloseCode: 4408, Limit: session.MaxLimit}, func(x session.Record) bool { return x.CloseCode == 4408 }},
		{"closed by", session.Filter{ClosedBy: session.ClosedByShutdown, Limit: session.MaxLimit}, func(x session.Record) bool { return x.ClosedBy == session.ClosedByShutdown }},
		{"since", session.Filter{Since: at(100 * time.Minute), Limit: session.MaxLimit},
			func(x session.Record) bool { return !x.ConnectedAt.Before(at(100 * time.Minute)) }},
		{"until", session.Filter{Until: at(10 * time.Minute), Limit: session.MaxLimit},
			func(x session.Record) bool { return x.ConnectedAt.Before(at(10 * time.Minute)) }},
		{"since and until", session.Filter{Since: at(20 * time.Minute), Until: at(40 * time.Minute), Limit: session.MaxLimit},
			func(x session.Record) bool {
				return !x.ConnectedAt.Before(at(20*time.Minute)) && x.ConnectedAt.Before(at(40*time.Minute))
			}},
		{"user and route and code", session.Filter{User: "alice", Route: "/chat", CloseCode: 1000, Limit: session.MaxLimit},
			func(x session.Record) bool { return x.User == "alice" && x.Route == "/chat" && x.CloseCode == 1000 }},
		{"no match", session.Filter{User: "mallory", Limit: session.MaxLimit}, func(session.Record) bool { return false }},
		{"limit above max is clamped", session.Filter{Limit: 5000}, func(session.Record) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []session.Record
			for _, x := range all {
				if tt.match(x) {
					want = append(want, x)
				}
			}
			page, err := s.ListSessions(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(page.Sessions), ids(want)) {
				t.Fatalf("got  %v\nwant %v", ids(page.Sessions), ids(want))
			}
			if page.Next != "" {
				t.Fatalf("Next = %q on a complete page", page.Next)
			}
			for i, got := range page.Sessions {
				w := want[i]
				if got.Route != w.Route || got.User != w.User || !got.ConnectedAt.Equal(w.ConnectedAt) ||
					!got.ClosedAt.Equal(w.ClosedAt) || got.CloseCode != w.CloseCode || got.ClosedBy != w.ClosedBy {
					t.Fatalf("row %s:\n got %+v\nwant %+v", w.ID, got, w)
				}
			}
		})
	}

	t.Run("default limit", func(t *testing.T) {
		page, err := s.ListSessions(ctx, session.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Sessions) != session.DefaultLimit || page.Next == "" {
			t.Fatalf("got %d sessions, Next %q; want %d and a cursor", len(page.Sessions), page.Next, session.DefaultLimit)
		}
	})
}

func TestListSessionsPagination(t *testing.T) {
	s := testStore(t, nil)
	all := seedSessions(t, s, 61)
	ctx := context.Background()

	for _, tc := range []struct {
		name  string
		f     session.Filter
		match func(session.Record) bool
	}{
		{"all", session.Filter{}, func(session.Record) bool { return true }},
		{"filtered", session.Filter{Route: "/chat"}, func(x session.Record) bool { return x.Route == "/chat" }},
	} {
		for _, limit := range []int{1, 2, 7, 60, 61, 62} {
			t.Run(fmt.Sprintf("%s/limit=%d", tc.name, limit), func(t *testing.T) {
				var want []string
				for _, x := range all {
					if tc.match(x) {
						want = append(want, x.ID)
					}
				}
				var got []string
				f := tc.f
				f.Limit = limit
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatal("pagination does not end")
					}
					page, err := s.ListSessions(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Sessions) > limit {
						t.Fatalf("page of %d, limit %d", len(page.Sessions), limit)
					}
					got = append(got, ids(page.Sessions)...)
					if page.Next == "" {
						break
					}
					f.Before = page.Next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages joined:\n got %v\nwant %v", got, want)
				}
			})
		}
	}

	t.Run("stable under inserts", func(t *testing.T) {
		first, err := s.ListSessions(ctx, session.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		// Newer sessions arrive between pages; the next page must continue
		// exactly where the first ended.
		for i := range 5 {
			s.RecordOpen(session.Open{ID: fmt.Sprint("new", i), ConnectedAt: at(24 * time.Hour)})
		}
		flush(t, s)
		second, err := s.ListSessions(ctx, session.Filter{Limit: 10, Before: first.Next})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(second.Sessions), ids(all[10:20])) {
			t.Fatalf("second page %v, want %v", ids(second.Sessions), ids(all[10:20]))
		}
	})

	for _, bad := range []string{"!!!", "bm9zZXBhcmF0b3I", "eDpmb28"} { // bad base64, no ":", non-numeric time
		if _, err := s.ListSessions(ctx, session.Filter{Before: bad}); !errors.Is(err, session.ErrInvalidFilter) {
			t.Errorf("cursor %q: err = %v, want session.ErrInvalidFilter", bad, err)
		}
	}
	if _, err := s.ListSessions(ctx, session.Filter{Limit: -1}); !errors.Is(err, session.ErrInvalidFilter) {
		t.Errorf("negative limit: %v", err)
	}
}

// TestListSessionsUsesIndexes guards the indexes the history queries rely
// on: none of the common shapes may scan the whole table.
func TestListSessionsUsesIndexes(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()
	for _, q := range []string{
		"SELECT id FROM sessions ORDER BY connected_at DESC, id DESC LIMIT 101",
		"SELECT id FROM sessions WHERE (connected_at, id) < (1, 'x') ORDER BY connected_at DESC, id DESC LIMIT 101",
		// The user index is partial: the query states its condition.
		"SELECT id FROM sessions WHERE user = 'a' AND user != '' ORDER BY connected_at DESC, id DESC LIMIT 101",
		"SELECT id FROM sessions WHERE route = 'a' AND (connected_at, id) < (1, 'x') ORDER BY connected_at DESC, id DESC LIMIT 101",
		"DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE closed_at < 1 LIMIT 500)",
		"UPDATE sessions SET closed_at = 1 WHERE closed_at IS NULL",
		"UPDATE sessions SET closed_at = 1 WHERE id = 'x'",
	} {
		rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := closeRows(rows, rows.Err()); err != nil {
			t.Fatal(err)
		}
		for _, d := range plan {
			if d == "SCAN sessions" || d == "USE TEMP B-TREE FOR ORDER BY" {
				t.Errorf("%s\n  plan: %v", q, plan)
			}
		}
		if strings.Contains(q, "user = ") && !strings.Contains(strings.Join(plan, " "), "sessions_user") {
			t.Errorf("%s does not use sessions_user\n  plan: %v", q, plan)
		}
	}
}
