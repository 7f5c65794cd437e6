package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/internal/loadgen"
)

// All of wsctl's output is formatted here: tables (aligned, human times),
// wide tables, JSON (stable: the API's own wire types) and ids only (-q).

type printer struct {
	w      io.Writer
	format string // table, wide or json
	quiet  bool
	now    func() time.Time
	// absolute: times as RFC 3339 in the local zone, not "3m ago".
	absolute bool
}

func (g *globals) printer() *printer {
	return &printer{w: g.stdout, format: g.output, quiet: g.quiet, now: time.Now}
}

func (p *printer) json() bool { return p.format == "json" }
func (p *printer) wide() bool { return p.format == "wide" }

// writeJSON prints v as indented JSON (one value per line in streams).
func (p *printer) writeJSON(v any, indent bool) error {
	var (
		b   []byte
		err error
	)
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = p.w.Write(append(b, '\n'))
	return err
}

// table writes rows aligned in columns.
func (p *printer) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "Name:  value" lines, aligned.
func (p *printer) fields(kv [][2]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	for _, f := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}

func (p *printer) ids(ids []string) error {
	for _, id := range ids {
		if _, err := fmt.Fprintln(p.w, id); err != nil {
			return err
		}
	}
	return nil
}

func (p *printer) line(format string, args ...any) error {
	_, err := fmt.Fprintf(p.w, format+"\n", args...)
	return err
}

// ago renders how long ago t was: "just now", "42s ago", "3m ago", "5h ago",
// "12d ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// span renders a duration shortly: "850ms", "12s", "3m12s", "2h5m", "3d4h".
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// rfc3339 renders t in the local zone, to the second, with the zone's
// offset (Z for UTC).
func rfc3339(t time.Time) string { return t.Local().Format(time.RFC3339) }

// when renders a time of a table: how long ago, or (absolute) RFC 3339;
// "-" for none.
func (p *printer) when(t *time.Time, now time.Time) string {
	switch {
	case t == nil || t.IsZero():
		return "-"
	case p.absolute:
		return rfc3339(*t)
	}
	return ago(*t, now)
}

// stamp renders an absolute time with how long ago it was.
func stamp(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + ago(*t, now) + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func bytesize(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + "KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
}

func closeCode(code int, reason string) string {
	if code == 0 {
		return "-"
	}
	if reason == "" {
		return strconv.Itoa(code)
	}
	return fmt.Sprintf("%d %q", code, reason)
}

// Connections.

func (p *printer) connections(cs []apitype.Connection) error {
	switch {
	case p.json():
		if cs == nil {
			cs = []apitype.Connection{}
		}
		return p.writeJSON(apitype.ConnectionList{Connections: cs}, true)
	case p.quiet:
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		return p.ids(ids)
	}
	now := p.now()
	header := []string{"ID", "ROUTE", "USER", "REMOTE", "LABELS", "CONNECTED", "IN", "OUT"}
	if p.wide() {
		header = append(header, "BYTES IN", "BYTES OUT", "QUEUE", "RTT", "LAST ACTIVITY", "SUBPROTOCOL", "ORIGIN", "TOKEN EXPIRES", "NODE")
	}
	rows := make([][]string, len(cs))
	for i, c := range cs {
		r := []string{c.ID, c.Route, orDash(c.User), c.RemoteAddr, labels(c.Labels), ago(c.ConnectedAt, now),
			strconv.FormatInt(c.MessagesIn, 10), strconv.FormatInt(c.MessagesOut, 10)}
		if p.wide() {
			rtt := "-"
			if c.RTTMS != nil {
				rtt = strconv.FormatFloat(*c.RTTMS, 'f', 1, 64) + "ms"
			}
			last := "never"
			if c.LastActivityAt != nil {
				last = ago(*c.LastActivityAt, now)
			}
			exp := "-"
			if c.TokenExpiresAt != nil {
				exp = "in " + span(c.TokenExpiresAt.Sub(now))
			}
			r = append(r, bytesize(c.BytesIn), bytesize(c.BytesOut), bytesize(c.SendQueueBytes), rtt, last,
				orDash(c.Subprotocol), orDash(c.Origin), exp, orDash(c.Node))
		}
		rows[i] = r
	}
	return p.table(header, rows)
}

func (p *printer) connection(c *apitype.Connection) error {
	if p.json() {
		return p.writeJSON(c, true)
	}
	if p.quiet {
		return p.ids([]string{c.ID})
	}
	now := p.now()
	rtt := "-"
	if c.RTTMS != nil {
		rtt = strconv.FormatFloat(*c.RTTMS, 'f', 1, 64) + "ms"
	}
	kv := [][2]string{
		{"ID", c.ID},
		{"Route", c.Route},
		{"Remote", c.RemoteAddr},
		{"User", orDash(c.User)},
		{"Labels", labels(c.Labels)},
		{"Origin", orDash(c.Origin)},
		{"User agent", orDash(c.UserAgent)},
		{"Subprotocol", orDash(c.Subprotocol)},
		{"Extensions", orDash(c.Extensions)},
		{"Connected", stamp(&c.ConnectedAt, now)},
		{"Last activity", stamp(c.LastActivityAt, now)},
		{"Messages", fmt.Sprintf("%d in, %d out", c.MessagesIn, c.MessagesOut)},
		{"Bytes", fmt.Sprintf("%s in, %s out", bytesize(c.BytesIn), bytesize(c.BytesOut))},
		{"Send queue", fmt.Sprintf("%s (oldest %dms)", bytesize(c.SendQueueBytes), c.OldestQueuedMS)},
		{"RTT", rtt},
		{"Token expires", stamp(c.TokenExpiresAt, now)},
	}
	if c.Trace != nil {
		// Only while traced on demand (wsctl trace): other connections'
		// output is unchanged.
		kv = append(kv, [2]string{"Traced until", stamp(&c.Trace.Until, now) + ", trace " + c.Trace.TraceID + traceLink(c.Trace.TraceURL)})
	}
	return p.fields(kv)
}

func traceLink(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// Bulk results.

func (p *printer) bulk(verb string, r *apitype.BulkResult) error {
	if p.json() {
		return p.writeJSON(r, true)
	}
	if p.quiet {
		return nil
	}
	if r.DryRun {
		if err := p.line("%d connection(s) match (dry run: nothing %s)", r.Matched, verb); err != nil {
			return err
		}
		if len(r.Sample) == 0 {
			return nil
		}
		if err := p.connections(r.Sample); err != nil {
			return err
		}
		if r.Matched > len(r.Sample) {
			return p.line("... and %d more", r.Matched-len(r.Sample))
		}
		return nil
	}
	if err := p.line("matched %d, %s %d, dropped %d", r.Matched, verb, r.Queued, r.Dropped); err != nil {
		return err
	}
	// A fleet's answer: each node's share, by name.
	for _, name := range slices.Sorted(maps.Keys(r.Nodes)) {
		n := r.Nodes[name]
		if err := p.line("  node %s: matched %d, %s %d, dropped %d", name, n.Matched, verb, n.Queued, n.Dropped); err != nil {
			return err
		}
	}
	return nil
}

// Sessions.

func sessionDuration(s apitype.Session, now time.Time) string {
	if s.ClosedAt == nil {
		return "open " + span(now.Sub(s.ConnectedAt))
	}
	return span(s.ClosedAt.Sub(s.ConnectedAt))
}

func (p *printer) sessions(l *apitype.SessionList) error {
	switch {
	case p.json():
		return p.writeJSON(l, true)
	case p.quiet:
		ids := make([]string, len(l.Sessions))
		for i, s := range l.Sessions {
			ids[i] = s.ID
		}
		return p.ids(ids)
	}
	now := p.now()
	header := []string{"ID", "ROUTE", "USER", "REMOTE", "CONNECTED", "DURATION", "CLOSE", "CLOSED BY"}
	if p.wide() {
		header = append(header, "CLOSED", "LABELS", "IN", "OUT", "BYTES IN", "BYTES OUT", "NODE", "ERROR")
	}
	rows := make([][]string, len(l.Sessions))
	for i, s := range l.Sessions {
		r := []string{s.ID, s.Route, orDash(s.User), s.RemoteAddr, p.when(&s.ConnectedAt, now), sessionDuration(s, now),
			closeCode(s.CloseCode, s.CloseReason), orDash(s.ClosedBy)}
		if p.wide() {
			r = append(r, p.when(s.ClosedAt, now), labels(s.Labels), strconv.FormatInt(s.MessagesIn, 10), strconv.FormatInt(s.MessagesOut, 10),
				bytesize(s.BytesIn), bytesize(s.BytesOut), orDash(s.Node), orDash(s.Error))
		}
		rows[i] = r
	}
	return p.table(header, rows)
}

func (p *printer) session(s *apitype.Session) error {
	if p.json() {
		return p.writeJSON(s, true)
	}
	if p.quiet {
		return p.ids([]string{s.ID})
	}
	now := p.now()
	kv := [][2]string{
		{"ID", s.ID},
		{"Route", s.Route},
		{"Remote", s.RemoteAddr},
		{"User", orDash(s.User)},
		{"Labels", labels(s.Labels)},
		{"Origin", orDash(s.Origin)},
		{"User agent", orDash(s.UserAgent)},
		{"Subprotocol", orDash(s.Subprotocol)},
		{"Extensions", orDash(s.Extensions)},
		{"Connected", stamp(&s.ConnectedAt, now)},
		{"Closed", stamp(s.ClosedAt, now)},
		{"Duration", sessionDuration(*s, now)},
		{"Close", closeCode(s.CloseCode, s.CloseReason)},
		{"Closed by", orDash(s.ClosedBy)},
		{"Error", orDash(s.Error)},
		{"Messages", fmt.Sprintf("%d in, %d out", s.MessagesIn, s.MessagesOut)},
		{"Bytes", fmt.Sprintf("%s in, %s out", bytesize(s.BytesIn), bytesize(s.BytesOut))},
		{"Node", orDash(s.Node)},
	}
	if s.TraceID != "" { // only sessions that were traced have one
		kv = append(kv, [2]string{"Trace", s.TraceID})
	}
	return p.fields(kv)
}

// Events, one line each as they come.

// eventTime is RFC 3339 with milliseconds: date, time and zone.
const eventTime = "2006-01-02T15:04:05.000Z07:00"

func (p *printer) event(ev apitype.Event) error {
	if p.json() {
		return p.writeJSON(ev, false)
	}
	c := ev.Connection
	if c == nil {
		c = &apitype.Connection{}
	}
	if p.quiet {
		return p.line("%s", c.ID)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-7s  %s  %s  user=%s  %s", ev.At.Local().Format(eventTime), ev.Type, c.ID, c.Route,
		orDash(c.User), c.RemoteAddr)
	switch ev.Type {
	case apitype.EventConnect:
		fmt.Fprintf(&b, "  %s", labels(c.Labels))
	case apitype.EventClose:
		if cl := ev.Close; cl != nil {
			fmt.Fprintf(&b, "  %s by %s after %s", closeCode(cl.Code, cl.Reason), cl.ClosedBy, span(ev.At.Sub(c.ConnectedAt)))
			if cl.Error != "" {
				fmt.Fprintf(&b, " (%s)", cl.Error)
			}
		}
	}
	if ev.Missed > 0 {
		fmt.Fprintf(&b, "  [missed %d events before this one]", ev.Missed)
	}
	return p.line("%s", b.String())
}

// Statistics.

func (p *printer) stats(s *apitype.Stats) error {
	if p.json() {
		return p.writeJSON(s, true)
	}
	now := p.now()
	hist := s.History.Status
	if s.History.Degraded && s.History.LastError != "" {
		hist += ": " + s.History.LastError
	}
	state := "serving"
	if s.Draining {
		state = "draining"
	}
	kv := [][2]string{
		{"Version", orDash(s.Version)},
		{"State", state},
		{"Started", stamp(&s.StartedAt, now)},
		{"Connections", fmt.Sprintf("%d live, %d in handshake", s.Connections, s.Handshaking)},
	}
	for _, r := range slices.Sorted(maps.Keys(s.ConnectionsByRoute)) {
		kv = append(kv, [2]string{"  " + r, strconv.Itoa(s.ConnectionsByRoute[r])})
	}
	kv = append(kv,
		[2]string{"Accepted", strconv.FormatUint(s.Accepted, 10)},
		[2]string{"Closed", strconv.FormatUint(s.Closed, 10)},
	)
	for _, by := range slices.Sorted(maps.Keys(s.ClosedBy)) {
		kv = append(kv, [2]string{"  by " + by, strconv.FormatUint(s.ClosedBy[by], 10)})
	}
	var hf []string
	for _, k := range slices.Sorted(maps.Keys(s.HandshakeFailures)) {
		hf = append(hf, fmt.Sprintf("%s=%d", k, s.HandshakeFailures[k]))
	}
	kv = append(kv,
		[2]string{"Handshake failures", orDash(strings.Join(hf, ","))},
		[2]string{"Rates", fmt.Sprintf("%.2f connects/s, %.2f closes/s (over %s)", s.Rates.ConnectsPerSecond, s.Rates.ClosesPerSecond, span(time.Duration(s.Rates.WindowSeconds*float64(time.Second))))},
		[2]string{"Send queues", bytesize(s.SendQueueBytes)},
		[2]string{"Slow consumers", strconv.FormatUint(s.SlowConsumers, 10)},
		[2]string{"Event subscribers", strconv.Itoa(s.EventSubscribers)},
		[2]string{"History", fmt.Sprintf("%s (%d written, %d queued, %d dropped)", hist, s.History.Written, s.History.Queued, s.History.Dropped)},
	)
	return p.fields(kv)
}

// Audit log.

func (p *printer) audit(l *apitype.AuditList) error {
	switch {
	case p.json():
		return p.writeJSON(l, true)
	case p.quiet:
		ids := make([]string, len(l.Entries))
		for i, e := range l.Entries {
			ids[i] = strconv.FormatInt(e.ID, 10)
		}
		return p.ids(ids)
	}
	now := p.now()
	header := []string{"TIME", "SUBJECT", "ACTION", "TARGET", "RESULT", "MATCHED", "AFFECTED", "PARAMETERS"}
	rows := make([][]string, len(l.Entries))
	for i, e := range l.Entries {
		var params []string
		for _, k := range slices.Sorted(maps.Keys(e.Parameters)) {
			params = append(params, fmt.Sprintf("%s=%v", k, e.Parameters[k]))
		}
		rows[i] = []string{ago(e.At, now), e.Subject, e.Action, e.Target, e.Result,
			strconv.FormatInt(e.Matched, 10), strconv.FormatInt(e.Affected, 10), orDash(strings.Join(params, " "))}
	}
	return p.table(header, rows)
}

// Bench results.

func (p *printer) bench(r *loadgen.Result) error {
	if p.json() {
		return p.writeJSON(r, true)
	}
	what := fmt.Sprintf("%s, %d connections", r.Scenario, r.Connections)
	switch r.Scenario {
	case loadgen.ScenarioEcho:
		what += fmt.Sprintf(", %s messages, pipeline %d", bytesize(int64(r.Size)), r.Pipeline)
	case loadgen.ScenarioChurn:
		what = fmt.Sprintf("%s, %d workers", r.Scenario, r.Connections)
	case loadgen.ScenarioBroadcast:
		what += fmt.Sprintf(" receiving, %s messages", bytesize(int64(r.Size)))
	}
	kv := [][2]string{
		{"Scenario", what},
		{"Target", r.URL},
		{"Elapsed", time.Duration(r.ElapsedS * float64(time.Second)).Round(time.Millisecond).String()},
		{"Done", fmt.Sprintf("%d %s (%.0f/s)", r.Operations, r.Unit, r.Rate)},
	}
	if r.Deliveries > 0 {
		kv = append(kv, [2]string{"Deliveries", strconv.FormatInt(r.Deliveries, 10)})
	}
	if l := r.Latency; l != nil {
		name := map[string]string{loadgen.ScenarioEcho: "Round trip", loadgen.ScenarioIdle: "Handshake", loadgen.ScenarioChurn: "Handshake", loadgen.ScenarioBroadcast: "All received"}[r.Scenario]
		kv = append(kv, [2]string{name, fmt.Sprintf("p50 %s  p99 %s  p99.9 %s  max %s", msec(l.P50MS), msec(l.P99MS), msec(l.P999MS), msec(l.MaxMS))})
	}
	per := strings.TrimSuffix(r.Unit, "s")
	if r.Deliveries > 0 {
		per = "delivery"
	}
	errs := strconv.FormatInt(r.Errors, 10)
	if r.FirstError != "" {
		errs += " (first: " + r.FirstError + ")"
	}
	refused := strconv.FormatInt(r.Refused, 10)
	if r.FirstRefusal != "" {
		refused += " (first: " + r.FirstRefusal + ")"
	}
	kv = append(kv,
		[2]string{"Errors", errs},
		[2]string{"Refused", refused},
		[2]string{"Source addresses", strconv.Itoa(r.Sources)},
		[2]string{"Client CPU", fmt.Sprintf("%.2fs (%.1fµs per %s)", r.ClientCPUS, r.ClientCPUPerOpUS, per)},
	)
	if r.ServerCPUS > 0 || r.ServerRSS > 0 {
		kv = append(kv, [2]string{"Server CPU", fmt.Sprintf("%.2fs (%.1fµs per %s)", r.ServerCPUS, r.ServerCPUPerOpUS, per)})
		rss := bytesize(r.ServerRSS)
		if r.ServerRSSPerConn > 0 {
			rss += fmt.Sprintf(" (%s per connection)", bytesize(int64(r.ServerRSSPerConn)))
		}
		kv = append(kv, [2]string{"Server RSS", rss})
	}
	return p.fields(kv)
}

// msec renders milliseconds with a precision that suits them.
func msec(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms*1000, 'f', 0, 64) + "µs"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
}
