package setup

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Protocols of the OTLP exporter (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// Samplers (OTEL_TRACES_SAMPLER).
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Defaults. The export timeout and queue follow the reliability catalogue
// (≤ 5 s, 2048 spans, dropping when full); the schedule delay is shorter
// than OpenTelemetry's 5 s so that a session shows up in Jaeger about a
// second after its upgrade.
const (
	DefaultServiceName        = "wsd"
	DefaultProtocol           = ProtocolHTTPProtobuf // the specification's default
	DefaultSampler            = SamplerParentBasedAlwaysOn
	DefaultExportTimeout      = 5 * time.Second
	DefaultScheduleDelay      = time.Second
	DefaultMaxQueueSize       = 2048
	DefaultMaxExportBatchSize = 512
	DefaultShutdownTimeout    = 5 * time.Second
)

// Config is the tracing set-up. FromEnv fills it from the standard OTEL_*
// variables; the zero value means tracing off.
type Config struct {
	// Enabled turns tracing on; when false New returns a no-op provider
	// and everything else is ignored.
	Enabled bool
	// Protocol is ProtocolGRPC or ProtocolHTTPProtobuf.
	Protocol string
	// Endpoint is the collector's URL: for gRPC scheme://host:port (http
	// means plaintext), for HTTP the full URL of the traces resource
	// (…/v1/traces).
	Endpoint string
	// Insecure disables TLS for a gRPC endpoint given without scheme.
	Insecure bool
	// Headers are sent with every export (authentication tokens).
	Headers map[string]string
	// Compression is "gzip" or "" (none).
	Compression string
	// Timeout bounds each export, retries included.
	Timeout time.Duration
	// CertificateFile is a PEM file of CAs trusted for the collector;
	// ClientCertificateFile and ClientKeyFile authenticate wsd to it.
	CertificateFile       string
	ClientCertificateFile string
	ClientKeyFile         string

	// Sampler is one of the Sampler* names; SamplerArg is the ratio of the
	// traceidratio samplers.
	Sampler    string
	SamplerArg float64

	// ServiceName and ServiceVersion identify wsd in the resource; Resource
	// holds the other resource attributes.
	ServiceName    string
	ServiceVersion string
	Resource       []attribute.KeyValue

	// The batch span processor: spans wait in a queue of MaxQueueSize
	// (dropped when it is full, never blocking a connection) and are
	// exported in batches of at most MaxExportBatchSize, at least every
	// ScheduleDelay.
	MaxQueueSize       int
	MaxExportBatchSize int
	ScheduleDelay      time.Duration

	// ShutdownTimeout bounds the final flush in Provider.Shutdown, whatever
	// the context given to it allows.
	ShutdownTimeout time.Duration
}

// FromEnv reads the OpenTelemetry environment variables through getenv
// (os.Getenv in main). Tracing is on when an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER=otlp, and off when nothing is configured,
// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true. Every value is
// checked: a typo is an error naming the variable, not a silent default.
// Variables wsd does not support (other exporters, http/json, other
// samplers) are errors too.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Protocol:           DefaultProtocol,
		Timeout:            DefaultExportTimeout,
		Sampler:            DefaultSampler,
		SamplerArg:         1,
		ServiceName:        DefaultServiceName,
		MaxQueueSize:       DefaultMaxQueueSize,
		MaxExportBatchSize: DefaultMaxExportBatchSize,
		ScheduleDelay:      DefaultScheduleDelay,
		ShutdownTimeout:    DefaultShutdownTimeout,
	}
	var errs []error
	bad := func(name, v, want string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", name, v, want))
	}
	// signal returns the traces-specific variable if set, else the
	// general one, with the name of the variable used.
	signal := func(suffix string) (string, string) {
		n := "OTEL_EXPORTER_OTLP_TRACES_" + suffix
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return n, v
		}
		n = "OTEL_EXPORTER_OTLP_" + suffix
		return n, strings.TrimSpace(getenv(n))
	}

	disabled := false
	if v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("OTEL_SDK_DISABLED", v, "want true or false")
		}
		disabled = b
	}
	exporter := ""
	if v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v != "" {
		for e := range strings.SplitSeq(v, ",") {
			switch e = strings.TrimSpace(e); e {
			case "otlp", "none":
				if exporter != "none" {
					exporter = e
				}
			default:
				bad("OTEL_TRACES_EXPORTER", v, "wsd exports with otlp (or none)")
			}
		}
	}

	if n, v := signal("PROTOCOL"); v != "" {
		switch v {
		case ProtocolGRPC, ProtocolHTTPProtobuf:
			c.Protocol = v
		default:
			bad(n, v, "want grpc or http/protobuf")
		}
	}
	if n, v := signal("INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(n, v, "want true or false")
		}
		c.Insecure = b
	}
	endpointSet := false
	if n, v := signal("ENDPOINT"); v != "" {
		endpointSet = true
		ep, err := endpointURL(c.Protocol, v, n == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.Insecure)
		if err != nil {
			bad(n, v, err.Error())
		}
		c.Endpoint = ep
	} else if c.Protocol == ProtocolGRPC {
		c.Endpoint = "http://localhost:4317"
	} else {
		c.Endpoint = "http://localhost:4318/v1/traces"
	}
	headers := map[string]string{}
	for _, n := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			kv, err := parsePairs(v)
			if err != nil {
				bad(n, v, err.Error())
			}
			maps.Copy(headers, kv)
		}
	}
	if len(headers) > 0 {
		c.Headers = headers
	}
	if n, v := signal("COMPRESSION"); v != "" {
		switch v {
		case "gzip":
			c.Compression = v
		case "none":
		default:
			bad(n, v, "want gzip or none")
		}
	}
	if n, v := signal("TIMEOUT"); v != "" {
		d, err := millis(v)
		if err != nil || d <= 0 {
			bad(n, v, "want a positive number of milliseconds")
		}
		c.Timeout = d
	}
	_, c.CertificateFile = signal("CERTIFICATE")
	_, c.ClientCertificateFile = signal("CLIENT_CERTIFICATE")
	_, c.ClientKeyFile = signal("CLIENT_KEY")
	if (c.ClientCertificateFile == "") != (c.ClientKeyFile == "") {
		errs = append(errs, errors.New("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together"))
	}

	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")); v != "" {
		switch v {
		case SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio,
			SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
			c.Sampler = v
		default:
			bad("OTEL_TRACES_SAMPLER", v, "want always_on, always_off, traceidratio or their parentbased_ forms")
		}
	}
	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			bad("OTEL_TRACES_SAMPLER_ARG", v, "want a ratio between 0 and 1")
		}
		c.SamplerArg = f
	}

	if v := strings.TrimSpace(getenv("OTEL_RESOURCE_ATTRIBUTES")); v != "" {
		kv, err := parsePairs(v)
		if err != nil {
			bad("OTEL_RESOURCE_ATTRIBUTES", v, err.Error())
		}
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			if k == "service.name" {
				c.ServiceName = kv[k]
				continue
			}
			c.Resource = append(c.Resource, attribute.String(k, kv[k]))
		}
	}
	if v := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); v != "" {
		c.ServiceName = v
	}

	for _, p := range []struct {
		name string
		dst  *int
	}{{"OTEL_BSP_MAX_QUEUE_SIZE", &c.MaxQueueSize}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &c.MaxExportBatchSize}} {
		if v := strings.TrimSpace(getenv(p.name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				bad(p.name, v, "want a positive number")
			}
			*p.dst = n
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"OTEL_BSP_SCHEDULE_DELAY", &c.ScheduleDelay}, {"OTEL_BSP_EXPORT_TIMEOUT", &c.Timeout}} {
		if v := strings.TrimSpace(getenv(p.name)); v != "" {
			d, err := millis(v)
			if err != nil || d <= 0 {
				bad(p.name, v, "want a positive number of milliseconds")
			}
			*p.dst = d
		}
	}

	switch {
	case disabled || exporter == "none":
		c.Enabled = false
	case exporter == "otlp" || endpointSet:
		c.Enabled = true
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if !c.Enabled {
		return Config{}, nil
	}
	return c, c.Validate()
}

// Validate reports the problems of an enabled configuration.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Protocol != ProtocolGRPC && c.Protocol != ProtocolHTTPProtobuf {
		errs = append(errs, fmt.Errorf("tracing: protocol %q: want grpc or http/protobuf", c.Protocol))
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("tracing: endpoint %q: want an http:// or https:// URL", c.Endpoint))
	}
	if c.SamplerArg < 0 || c.SamplerArg > 1 {
		errs = append(errs, fmt.Errorf("tracing: sampler ratio %v: want 0 to 1", c.SamplerArg))
	}
	if c.MaxQueueSize <= 0 || c.MaxExportBatchSize <= 0 || c.MaxExportBatchSize > c.MaxQueueSize {
		errs = append(errs, fmt.Errorf("tracing: batch size %d and queue size %d: want 0 < batch ≤ queue", c.MaxExportBatchSize, c.MaxQueueSize))
	}
	if c.Timeout <= 0 || c.ScheduleDelay <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("tracing: timeouts and schedule delay must be positive"))
	}
	if c.ServiceName == "" {
		errs = append(errs, errors.New("tracing: service name is empty"))
	}
	return errors.Join(errs...)
}

// endpointURL normalises an endpoint variable to a URL with a scheme. The
// general variable of the HTTP protocol gets the traces path appended; the
// traces-specific one is used as given (the specification's rule). A gRPC
// endpoint may be host:port, made http:// or https:// by insecure.
func endpointURL(protocol, v string, signalSpecific, insecure bool) (string, error) {
	if !strings.Contains(v, "://") {
		if protocol != ProtocolGRPC {
			return "", errors.New("want an http:// or https:// URL")
		}
		scheme := "https://"
		if insecure {
			scheme = "http://"
		}
		v = scheme + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want an http:// or https:// URL")
	}
	if protocol == ProtocolHTTPProtobuf && !signalSpecific {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// parsePairs parses "k=v,k2=v2" with percent-encoded values (the format of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS).
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for p := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value pairs separated by commas", p)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q: bad percent-encoding", p)
		}
		out[k] = dv
	}
	return out, nil
}

func millis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Millisecond, nil
}
