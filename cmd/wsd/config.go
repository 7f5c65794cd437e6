package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/tracing/setup"
)

// config is everything wsd is configured with. Sources, highest priority
// first: command-line flags, WSD_* environment variables, the --config file
// (WSD_*=value lines, the format of a systemd EnvironmentFile), defaults.
// SIGHUP re-reads the file and applies what can change at run time.
type config struct {
	listen           string
	adminListen      string
	tls              tlsConfig // of the WebSocket listener
	adminTLS         tlsConfig // of the admin listener
	stateDir         string
	configFile       string
	logLevel         slog.Level
	logFormat        string
	historyRetention time.Duration
	daemon           daemon.Config
	auth             authConfig    // admin API and tokens (admin.go)
	tracing          setup.Config  // from OTEL_* (setup.FromEnv)
	cluster          clusterConfig // --cluster and its options (cluster.go)
	traceURL         string        // link to a trace for `wsctl why`; {trace_id} is replaced
}

// envPrefix turns a flag name into its environment variable.
const envPrefix = "WSD_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// source of values besides flags: environment and config file.
type source struct {
	getenv func(string) string
	file   map[string][]string // WSD_X → values, in file order
	path   string
}

// loadConfig parses args over env and the config file. It reports the
// first problem as an error naming the flag, variable or file line.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs, reg := c.flagSet(getenv)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (wsd takes flags only; see wsd -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	src := source{getenv: getenv}
	path := c.configFile
	if !set["config"] {
		path = getenv(envName("config"))
	}
	if path != "" {
		file, err := readEnvFile(path, reg)
		if err != nil {
			return c, err
		}
		src.file, src.path = file, path
		c.configFile = path
	}
	// Lower-priority sources fill in the flags not given on the command line.
	for _, name := range reg.names {
		if set[name] || name == "config" {
			continue
		}
		key := envName(name)
		f := fs.Lookup(name)
		if v := getenv(key); v != "" {
			for _, part := range reg.splitEnv(name, v) {
				if err := f.Value.Set(part); err != nil {
					return c, fmt.Errorf("%s=%q: %v", key, v, err)
				}
			}
			continue
		}
		for _, v := range src.file[key] {
			if err := f.Value.Set(v); err != nil {
				return c, fmt.Errorf("%s: %s=%q: %v", path, key, v, err)
			}
		}
	}
	if err := reg.finish(&c); err != nil {
		return c, err
	}
	tc, err := setup.FromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.tracing = tc
	return c, c.Validate()
}

// registry remembers the flags and how their values split.
type registry struct {
	names    []string
	repeated map[string]bool // repeatable: env values split on whitespace
	routes   *routeList
	labels   *routeLabels
}

func (r *registry) splitEnv(name, v string) []string {
	if r.repeated[name] {
		return strings.Fields(v)
	}
	return []string{v}
}

// finish applies the values that need all flags parsed.
func (r *registry) finish(c *config) error {
	c.daemon.Routes = []daemon.Route(*r.routes)
	if len(c.daemon.Routes) == 0 {
		c.daemon.Routes = daemon.DefaultConfig().Routes
	}
	for path, labels := range *r.labels {
		found := false
		for i := range c.daemon.Routes {
			if c.daemon.Routes[i].Path == path {
				c.daemon.Routes[i].Labels = labels
				found = true
			}
		}
		if !found {
			return fmt.Errorf("--route-label: no route has the path %q", path)
		}
	}
	return nil
}

func (c *config) flagSet(getenv func(string) string) (*flag.FlagSet, *registry) {
	fs := flag.NewFlagSet("wsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := daemon.DefaultConfig()
	c.daemon = d
	c.daemon.Routes = nil
	reg := &registry{repeated: map[string]bool{"route": true, "route-label": true}}
	reg.routes = &routeList{}
	reg.labels = &routeLabels{}

	stateDefault := "./wsd-data"
	if s := getenv("STATE_DIRECTORY"); s != "" {
		stateDefault, _, _ = strings.Cut(s, ":") // systemd may list several
	}
	fs.StringVar(&c.listen, "listen", ":8080", "WebSocket listener address")
	fs.StringVar(&c.adminListen, "admin-listen", "127.0.0.1:8081", "admin listener address (/healthz, /readyz)")
	c.tls.flags(fs, "", "WebSocket connections (wss://)")
	c.adminTLS.flags(fs, "admin-", "the admin listener (https://)")
	fs.StringVar(&c.stateDir, "state-dir", stateDefault, "state directory, created 0700 (default $STATE_DIRECTORY, else ./wsd-data)")
	fs.StringVar(&c.configFile, "config", "", "file of WSD_*=value lines, re-read on SIGHUP")
	fs.Var(reg.routes, "route", "route PATH=HANDLER[:ARG] (echo, relay:LABEL, webhook:URL, sink); repeatable (default /=echo)")
	fs.Var(reg.labels, "route-label", "static label PATH:KEY=VALUE for a route's connections; repeatable")
	fs.Var((*listValue)(&c.daemon.Subprotocols), "subprotocols", "accepted subprotocols, comma-separated, in order of preference")
	fs.Var((*listValue)(&c.daemon.AllowedOrigins), "allowed-origins", "origin host patterns allowed besides same-origin, comma-separated (e.g. *.example.com)")
	fs.Var((*listValue)(&c.daemon.LabelsFromQuery), "label-from-query", "query parameters that become labels, comma-separated")
	fs.Var((*prefixList)(&c.daemon.TrustedProxies), "trusted-proxies", "proxies whose X-Forwarded-For is honoured, comma-separated IPs or CIDRs")
	fs.Var((*sizeValue)(&c.daemon.MaxMessageSize), "max-message-size", "largest message accepted (bytes; KiB, MiB suffixes)")
	fs.Var((*sizeValue)(&c.daemon.MaxFrameSize), "max-frame-size", "largest frame accepted (0: max-message-size)")
	fs.IntVar(&c.daemon.MaxConnections, "max-connections", d.MaxConnections, "live connections and handshakes at most; more get 503")
	fs.IntVar(&c.daemon.MaxConnectionsPerIP, "max-connections-per-ip", d.MaxConnectionsPerIP, "connections per client IP at most (0: unlimited); more get 503")
	fs.DurationVar(&c.daemon.HandshakeTimeout, "handshake-timeout", d.HandshakeTimeout, "time allowed for the whole opening handshake")
	fs.DurationVar(&c.daemon.PingInterval, "ping-interval", d.PingInterval, "ping a connection after this long without one")
	fs.DurationVar(&c.daemon.PongTimeout, "pong-timeout", d.PongTimeout, "close a connection whose pong is this late (closed_by=idle_timeout)")
	fs.DurationVar(&c.daemon.WriteTimeout, "write-timeout", d.WriteTimeout, "time allowed for each write to a client (then closed_by=slow_consumer)")
	fs.Var((*intSizeValue)(&c.daemon.SendQueueBytes), "send-queue-bytes", "bytes queued per connection at most; past it the client is closed with 1008 (closed_by=slow_consumer)")
	fs.DurationVar(&c.daemon.CloseTimeout, "close-timeout", d.CloseTimeout, "time allowed for each step of a closing handshake")
	fs.DurationVar(&c.daemon.DrainTimeout, "drain-timeout", d.DrainTimeout, "time allowed for the shutdown drain")
	fs.Float64Var(&c.daemon.HandshakeRate, "handshake-rate", d.HandshakeRate, "handshakes per second per client IP (0: unlimited); more get 429")
	fs.IntVar(&c.daemon.HandshakeBurst, "handshake-burst", d.HandshakeBurst, "burst of handshakes allowed per client IP above the rate")
	fs.Var((*intSizeValue)(&c.daemon.MaxHeaderBytes), "max-header-bytes", "largest handshake request head")
	fs.Float64Var(&c.daemon.MaxMessagesPerSecond, "max-messages-per-second", d.MaxMessagesPerSecond, "messages per second one connection may send (0: unlimited); sustained excess closes it with 1008 (closed_by=policy)")
	fs.IntVar(&c.daemon.MaxMessagesBurst, "max-messages-burst", d.MaxMessagesBurst, "burst of messages allowed above max-messages-per-second (0: one second's worth)")
	fs.Var((*sizeValue)(&c.daemon.MaxBytesPerSecond), "max-bytes-per-second", "message bytes per second one connection may send (0: unlimited; KiB, MiB suffixes); sustained excess closes it with 1008 (closed_by=policy)")
	fs.Var((*sizeValue)(&c.daemon.MaxBytesBurst), "max-bytes-burst", "burst of bytes allowed above max-bytes-per-second (0: one second's worth, at least max-message-size)")
	fs.DurationVar(&c.daemon.WebhookTimeout, "webhook-timeout", d.WebhookTimeout, "time allowed for each webhook request")
	fs.IntVar(&c.daemon.WebhookMaxInFlight, "webhook-max-in-flight", d.WebhookMaxInFlight, "webhook requests in flight per connection at most (1 keeps replies in order)")
	fs.Var((*compressionValue)(&c.daemon.Compression), "compression", "permessage-deflate: off, no-context-takeover (no state kept on idle connections) or context-takeover")
	fs.StringVar(&c.traceURL, "trace-url", "", "link to a session's trace that `wsctl why` shows, {trace_id} standing for its id (e.g. http://localhost:16686/trace/{trace_id})")
	fs.Var(&c.daemon.TraceFrames, "trace-frames", "frames recorded in traced sessions: none, control (ping, pong, close) or all (tracing is set up by the OTEL_* variables)")
	fs.Var((*intSizeValue)(&c.daemon.WriteBufferSize), "write-buffer-size", "protocol write buffer kept per connection (message data is batched in pooled buffers)")
	c.historyRetention = 30 * 24 * time.Hour
	fs.Var((*daysDuration)(&c.historyRetention), "history-retention", "how long closed sessions are kept (e.g. 30d, 12h)")
	c.logLevel = slog.LevelInfo
	fs.Var((*levelValue)(&c.logLevel), "log-level", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	c.auth.flags(fs)
	c.cluster.flags(fs)
	fs.VisitAll(func(f *flag.Flag) { reg.names = append(reg.names, f.Name) })
	c.daemon.TestHandlers = getenv("WSD_TEST_HANDLERS") == "1"
	return fs, reg
}

// Validate checks what the flag types alone cannot.
func (c config) Validate() error {
	if c.listen == "" {
		return errors.New("--listen: address required")
	}
	if err := c.tls.validate(""); err != nil {
		return err
	}
	if err := c.adminTLS.validate("admin-"); err != nil {
		return err
	}
	if c.adminListen == "" {
		return errors.New("--admin-listen: address required (use 127.0.0.1:0 for a free port)")
	}
	if c.stateDir == "" {
		return errors.New("--state-dir: directory required")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format: %q: want text or json", c.logFormat)
	}
	if c.historyRetention <= 0 {
		return fmt.Errorf("--history-retention: %v must be positive", c.historyRetention)
	}
	if err := c.auth.validate(); err != nil {
		return err
	}
	if err := c.cluster.validate(); err != nil {
		return err
	}
	if err := c.daemon.Validate(); err != nil {
		// One line, naming the first setting: the daemon's messages start
		// with the flag name.
		msg := strings.TrimPrefix(err.Error(), daemon.ErrInvalidConfig.Error()+": ")
		first, _, _ := strings.Cut(msg, "\n")
		return fmt.Errorf("--%s", first)
	}
	return nil
}

// restartOnly names the settings SIGHUP cannot change.
func (c config) restartOnly(n config) []string {
	var out []string
	if c.listen != n.listen {
		out = append(out, "listen")
	}
	if c.adminListen != n.adminListen {
		out = append(out, "admin-listen")
	}
	if c.stateDir != n.stateDir {
		out = append(out, "state-dir")
	}
	if c.tls != n.tls || c.adminTLS != n.adminTLS {
		out = append(out, "TLS file names (their contents are re-read at every reload)")
	}
	if c.logFormat != n.logFormat {
		out = append(out, "log-format")
	}
	if c.historyRetention != n.historyRetention {
		out = append(out, "history-retention")
	}
	if !reflect.DeepEqual(c.auth, n.auth) {
		out = append(out, "admin API and token settings")
	}
	if !reflect.DeepEqual(c.cluster, n.cluster) {
		out = append(out, "cluster settings")
	}
	if !reflect.DeepEqual(c.tracing, n.tracing) {
		out = append(out, "OTEL_* (tracing)")
	}
	if c.daemon.WriteBufferSize != n.daemon.WriteBufferSize {
		out = append(out, "write-buffer-size (for connections already open)")
	}
	return out
}

// readEnvFile reads KEY=VALUE lines (# comments, optional quotes, optional
// "export "). Unknown WSD_ keys are errors, so that a typo does not pass
// silently; repeated keys accumulate (for WSD_ROUTE).
func readEnvFile(path string, reg *registry) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	known := map[string]string{}
	for _, n := range reg.names {
		known[envName(n)] = n
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		s = strings.TrimPrefix(s, "export ")
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		name, ok := known[k]
		if !ok {
			if strings.HasPrefix(k, envPrefix) {
				return nil, fmt.Errorf("%s:%d: unknown setting %s", path, line, k)
			}
			continue // other variables of a shared EnvironmentFile
		}
		if name == "config" {
			return nil, fmt.Errorf("%s:%d: WSD_CONFIG cannot be set inside the config file", path, line)
		}
		out[k] = append(out[k], reg.splitEnv(name, v)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return out, nil
}

// Flag value types.

type routeList []daemon.Route

func (r *routeList) String() string {
	if r == nil {
		return ""
	}
	s := make([]string, len(*r))
	for i, rt := range *r {
		s[i] = rt.String()
	}
	return strings.Join(s, " ")
}

func (r *routeList) Set(v string) error {
	rt, err := daemon.ParseRoute(v)
	if err != nil {
		return err
	}
	*r = append(*r, rt)
	return nil
}

// routeLabels maps a route path to its static labels.
type routeLabels map[string]map[string]string

func (r *routeLabels) String() string {
	if r == nil {
		return ""
	}
	var s []string
	for p, m := range *r {
		for k, v := range m {
			s = append(s, p+":"+k+"="+v)
		}
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func (r *routeLabels) Set(v string) error {
	i := strings.LastIndex(v, ":")
	if i <= 0 {
		return fmt.Errorf("%q: want PATH:KEY=VALUE", v)
	}
	path, kv := v[:i], v[i+1:]
	k, val, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want PATH:KEY=VALUE", v)
	}
	if *r == nil {
		*r = routeLabels{}
	}
	if (*r)[path] == nil {
		(*r)[path] = map[string]string{}
	}
	(*r)[path][k] = val
	return nil
}

type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error {
	*l = nil
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

type prefixList []netip.Prefix

func (l *prefixList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	*l = nil
	for p := range strings.SplitSeq(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			ip, err := netip.ParseAddr(p)
			if err != nil {
				return fmt.Errorf("%q is not an IP or CIDR", p)
			}
			*l = append(*l, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("%q is not an IP or CIDR", p)
		}
		*l = append(*l, pr.Masked())
	}
	return nil
}

// parseSize parses a byte count with an optional KiB/MiB/GiB (or K/M/G,
// KB/MB/GB as binary units too) suffix.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	upper := strings.ToUpper(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 64KiB, 1MiB)", v)
	}
	return n * mult, nil
}

type sizeValue int64

func (s *sizeValue) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeValue(n)
	return err
}

type intSizeValue int

func (s *intSizeValue) String() string { return strconv.Itoa(int(*s)) }
func (s *intSizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err == nil && n > 1<<31-1 {
		return fmt.Errorf("%q is too large", v)
	}
	*s = intSizeValue(n)
	return err
}

// daysDuration is a time.Duration that also accepts a whole number of days
// ("30d").
type daysDuration time.Duration

// String writes whole days as days ("30d"), as the flag is documented.
func (d *daysDuration) String() string {
	x := time.Duration(*d)
	if day := 24 * time.Hour; x > 0 && x%day == 0 {
		return strconv.FormatInt(int64(x/day), 10) + "d"
	}
	return x.String()
}
func (d *daysDuration) Set(v string) error {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: want a duration such as 30d or 12h", v)
		}
		*d = daysDuration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q: want a duration such as 30d or 12h", v)
	}
	*d = daysDuration(x)
	return nil
}

type compressionValue protocol.CompressionMode

var compressionNames = map[protocol.CompressionMode]string{
	protocol.CompressionDisabled:          "off",
	protocol.CompressionNoContextTakeover: "no-context-takeover",
	protocol.CompressionContextTakeover:   "context-takeover",
}

func (v *compressionValue) String() string { return compressionNames[protocol.CompressionMode(*v)] }
func (v *compressionValue) Set(s string) error {
	for m, name := range compressionNames {
		if s == name {
			*v = compressionValue(m)
			return nil
		}
	}
	return fmt.Errorf("%q: want off, no-context-takeover or context-takeover", s)
}

type levelValue slog.Level

func (l *levelValue) String() string { return slog.Level(*l).String() }
func (l *levelValue) Set(v string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		return fmt.Errorf("%q: want debug, info, warn or error", v)
	}
	*l = levelValue(lv)
	return nil
}

// stateDB returns the session database path.
func (c config) stateDB() string { return filepath.Join(c.stateDir, "wsd.db") }
