package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

func newNodes(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "The nodes of the fleet: name, address, version, uptime, connections, health, last heartbeat",
		Long: "nodes lists the wsd nodes of the fleet (wsd --cluster) as the node answering sees them;\n" +
			"a single node lists itself. A node that stops sending heartbeats leaves the list within seconds.\n" +
			"When the answering node has lost the bus, the list is partial and a warning names the nodes missing.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.do(cmd, func(ctx context.Context, c *client.Client) error {
				nl, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				p := g.printer()
				if p.json() {
					return errors.Join(p.writeJSON(nl, true), g.partial(nl.Fleet))
				}
				if p.quiet {
					names := make([]string, len(nl.Nodes))
					for i, n := range nl.Nodes {
						names[i] = n.Name
					}
					return errors.Join(p.ids(names), g.partial(nl.Fleet))
				}
				return errors.Join(p.table([]string{"NAME", "ADDRESS", "VERSION", "UPTIME", "CONNECTIONS", "HEALTH", "LAST HEARTBEAT"}, nodeRows(nl.Nodes, time.Now())), g.partial(nl.Fleet))
			})
		},
	}
}

func missingNodes(names []string) string {
	if len(names) == 0 {
		return "unknown (the bus is down)"
	}
	return strings.Join(names, ", ")
}

func nodeRows(nodes []apitype.Node, now time.Time) [][]string {
	rows := make([][]string, len(nodes))
	for i, n := range nodes {
		name := n.Name
		if n.Self {
			name += " *"
		}
		rows[i] = []string{
			name, n.Address, n.Version,
			(time.Duration(n.UptimeSeconds) * time.Second).String(),
			strconv.Itoa(n.Connections), n.Health,
			now.Sub(n.LastHeartbeat).Round(100*time.Millisecond).String() + " ago",
		}
	}
	return rows
}
