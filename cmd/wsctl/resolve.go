package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/wsd-dev/wsd/admin/client"
)

// Ids may be given whole or as a unique prefix of at least minPrefix
// characters. wsctl resolves a prefix itself by listing (the API takes
// whole ids only): live connections for inspect, send and kill; the newest
// maxSessionScan sessions of history for session.
const (
	minPrefix      = 4
	maxSessionScan = 10 * sessionPage
	sessionPage    = 1000
	maxCandidates  = 10
)

// notFoundError: no id starts with the prefix (exit 3).
type notFoundError struct{ msg string }

func (e notFoundError) Error() string { return e.msg }

// ambiguousError: several ids start with the prefix (exit 2).
type ambiguousError struct {
	prefix, what string
	ids          []string
}

func (e ambiguousError) Error() string {
	shown := e.ids[:min(len(e.ids), maxCandidates)]
	msg := fmt.Sprintf("id prefix %q is ambiguous: %d %s ids start with it: %s", e.prefix, len(e.ids), e.what, strings.Join(shown, ", "))
	if len(e.ids) > len(shown) {
		msg += fmt.Sprintf(", ... and %d more", len(e.ids)-len(shown))
	}
	return msg + "; give more of the id"
}

// wholeID reports whether s has the shape of a whole connection id (a
// UUID: 8-4-4-4-12 hexadecimal digits), which needs no resolving.
func wholeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// prefixMatch picks the id that arg names among ids: arg itself, else the
// only one it prefixes.
func prefixMatch(arg, what string, ids []string, notFound string) (string, error) {
	var cands []string
	for _, id := range ids {
		if id == arg {
			return id, nil
		}
		if strings.HasPrefix(id, arg) {
			cands = append(cands, id)
		}
	}
	switch len(cands) {
	case 0:
		return "", notFoundError{notFound}
	case 1:
		return cands[0], nil
	}
	return "", ambiguousError{prefix: arg, what: what, ids: cands}
}

func checkPrefix(arg string) error {
	if len(arg) < minPrefix {
		return usagef("id %q: give the whole id or a unique prefix of at least %d characters", arg, minPrefix)
	}
	return nil
}

// resolveConn returns the live connection id that arg names: a whole id
// as is, else the one live connection whose id starts with arg.
func resolveConn(ctx context.Context, c *client.Client, arg string) (string, error) {
	if wholeID(arg) {
		return arg, nil
	}
	if err := checkPrefix(arg); err != nil {
		return "", err
	}
	var ids []string
	q := client.ConnectionsQuery{Limit: 1000}
	for {
		page, err := c.Connections(ctx, q)
		if err != nil {
			return "", err
		}
		for _, conn := range page.Connections {
			if strings.HasPrefix(conn.ID, arg) {
				ids = append(ids, conn.ID)
			}
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	return prefixMatch(arg, "live connection", ids, "no live connection has an id starting with "+arg)
}

// resolveSession returns the session id that arg names: a whole id as is,
// else the one session among the newest maxSessionScan whose id starts
// with arg (older sessions need their whole id).
func resolveSession(ctx context.Context, c *client.Client, arg string) (string, error) {
	if wholeID(arg) {
		return arg, nil
	}
	if err := checkPrefix(arg); err != nil {
		return "", err
	}
	var ids []string
	q := client.SessionsQuery{Limit: sessionPage}
	for scanned := 0; scanned < maxSessionScan; scanned += sessionPage {
		page, err := c.Sessions(ctx, q)
		if err != nil {
			return "", err
		}
		for _, s := range page.Sessions {
			if strings.HasPrefix(s.ID, arg) {
				ids = append(ids, s.ID)
			}
		}
		if page.Next == "" {
			break
		}
		q.Before = page.Next
	}
	return prefixMatch(arg, "session", ids, fmt.Sprintf("no session has an id starting with %s among the newest %d (give the whole id of an older one)", arg, maxSessionScan))
}
