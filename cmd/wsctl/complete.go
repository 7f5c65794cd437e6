package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/client"
)

// closedByValues are the values of --closed-by, in the order of the
// server's session.AllClosedBy (wsctl links no server package; a test
// compares the two).
var closedByValues = []string{"client", "server", "admin", "idle_timeout", "slow_consumer", "protocol_error",
	"shutdown", "token_expired", "drain", "policy", "crash"}

// completeTimeout bounds the admin API call that completes an id: a shell
// waiting on tab must not hang on an unreachable daemon.
const completeTimeout = 3 * time.Second

// outputFormats returns the -o values cmd takes.
func outputFormats(cmd *cobra.Command) []string {
	if cmd.Name() == "sessions" {
		return []string{"table", "wide", "json", "csv", "ndjson"}
	}
	return []string{"table", "wide", "json"}
}

func completeOutput(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return outputFormats(cmd), cobra.ShellCompDirectiveNoFileComp
}

func completeClosedBy(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return closedByValues, cobra.ShellCompDirectiveNoFileComp
}

// completeConnIDs completes live connection ids (described by route, user
// and labels) for the first maxArgs arguments (0: any number), leaving out
// those already given.
func completeConnIDs(g *globals, maxArgs int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := g.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completeTimeout)
		defer cancel()
		conns, _, err := c.AllConnections(ctx, "")
		if err != nil {
			cobra.CompDebugln("wsctl: list connections: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for _, conn := range conns {
			if slices.Contains(args, conn.ID) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(conn.ID, fmt.Sprintf("%s user=%s %s", conn.Route, orDash(conn.User), labels(conn.Labels))))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSessionIDs completes the ids of the newest sessions.
func completeSessionIDs(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := g.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completeTimeout)
		defer cancel()
		l, err := c.Sessions(ctx, client.SessionsQuery{Limit: 100})
		if err != nil {
			cobra.CompDebugln("wsctl: list sessions: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveError
		}
		out := make([]cobra.Completion, len(l.Sessions))
		for i, s := range l.Sessions {
			out[i] = cobra.CompletionWithDesc(s.ID, fmt.Sprintf("%s user=%s %s", s.Route, orDash(s.User), closeCode(s.CloseCode, s.CloseReason)))
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeNodes completes the names of the fleet's nodes (--node).
func completeNodes(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := g.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completeTimeout)
		defer cancel()
		l, err := c.Nodes(ctx)
		if err != nil {
			cobra.CompDebugln("wsctl: list nodes: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveError
		}
		out := make([]cobra.Completion, len(l.Nodes))
		for i, n := range l.Nodes {
			out[i] = cobra.CompletionWithDesc(n.Name, fmt.Sprintf("%s %s, %d connections", orDash(n.Address), n.Health, n.Connections))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
