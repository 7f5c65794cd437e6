package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsd-dev/wsd/cluster"
)

// clusterConfig joins wsd to a fleet over NATS (PRODUCT.md §13). Without
// --cluster the node stands alone and links no NATS connection.
type clusterConfig struct {
	urls     []string
	node     string
	prefix   string
	timeout  time.Duration
	creds    string
	nkey     string
	user     string
	password string
	token    string
	ca       string
	cert     string
	key      string
}

func (c *clusterConfig) flags(fs *flag.FlagSet) {
	fs.Var((*listValue)(&c.urls), "cluster", "NATS servers of the fleet, comma-separated (nats://HOST:4222[,...]); empty: this node stands alone")
	fs.StringVar(&c.node, "node", "", "this node's name in the fleet and in session history (default: the host name)")
	fs.StringVar(&c.prefix, "cluster-prefix", cluster.DefaultPrefix, "prefix of the fleet's NATS subjects, so that fleets can share one NATS")
	fs.DurationVar(&c.timeout, "cluster-timeout", cluster.DefaultTimeout, "deadline of fleet-wide requests: nodes that have not answered by then make the answer partial (a broadcast or bulk close must be acknowledged by then, and answered within 45s)")
	fs.StringVar(&c.creds, "cluster-creds", "", "NATS credentials file (user JWT and NKey seed)")
	fs.StringVar(&c.nkey, "cluster-nkey", "", "NATS NKey seed file")
	fs.StringVar(&c.user, "cluster-user", "", "NATS user")
	fs.StringVar(&c.password, "cluster-password", "", "NATS password (with --cluster-user)")
	fs.StringVar(&c.token, "cluster-token", "", "NATS authentication token")
	fs.StringVar(&c.ca, "cluster-ca", "", "CA certificates (PEM) that NATS servers' certificates must chain to")
	fs.StringVar(&c.cert, "cluster-cert", "", "client certificate (PEM) for NATS TLS authentication, with --cluster-key")
	fs.StringVar(&c.key, "cluster-key", "", "private key (PEM) of --cluster-cert")
}

func (c clusterConfig) enabled() bool { return len(c.urls) > 0 }

func (c clusterConfig) validate() error {
	if !c.enabled() {
		for name, v := range map[string]string{"cluster-creds": c.creds, "cluster-nkey": c.nkey, "cluster-user": c.user,
			"cluster-token": c.token, "cluster-ca": c.ca, "cluster-cert": c.cert} {
			if v != "" {
				return fmt.Errorf("--%s: needs --cluster", name)
			}
		}
		return nil
	}
	for _, u := range c.urls {
		scheme, _, ok := strings.Cut(u, "://")
		if !ok || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, scheme) {
			return fmt.Errorf("--cluster: %q: want nats://HOST:PORT (or tls://, ws://, wss://)", u)
		}
	}
	if c.timeout <= 0 || c.timeout > time.Minute {
		return fmt.Errorf("--cluster-timeout: %v: want more than 0 and at most 1m", c.timeout)
	}
	if err := c.settings("", "").Validate(); err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	return nil
}

// nodeName is --node, else the host name.
func (c clusterConfig) nodeName() string {
	if c.node != "" {
		return c.node
	}
	host, _ := os.Hostname() // a missing host name only leaves the node column empty
	return host
}

func (c clusterConfig) settings(address, version string) cluster.Config {
	name := c.nodeName()
	if name == "" {
		name = "wsd"
	}
	return cluster.Config{
		URLs: c.urls, Name: name, Prefix: c.prefix, Address: address, Version: version, Timeout: c.timeout,
		Auth: cluster.Auth{
			CredsFile: c.creds, NKeyFile: c.nkey, User: c.user, Password: c.password, Token: c.token,
			CAFile: c.ca, CertFile: c.cert, KeyFile: c.key,
		},
	}
}

// joinCluster connects to the fleet's NATS (retrying in the background if
// it is down). It returns nil without --cluster.
func joinCluster(c clusterConfig, adminAddr string, reg prometheus.Registerer, log *slog.Logger) (*cluster.Node, error) {
	if !c.enabled() {
		return nil, nil
	}
	n, err := cluster.New(c.settings(adminAddr, buildVersion()), cluster.Deps{Logger: log, Metrics: reg})
	if err != nil {
		return nil, errors.Join(errors.New("--cluster"), err)
	}
	return n, nil
}
