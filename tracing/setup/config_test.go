package setup

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvOff(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"nothing":      {},
		"service only": {"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"},
		"exporter none": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
			"OTEL_TRACES_EXPORTER": "none"},
		"sdk disabled": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := FromEnv(env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if c.Enabled {
				t.Fatalf("enabled: %+v", c)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want func(Config) string // "" when right
	}{
		{"http default path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, func(c Config) string {
			if c.Protocol != ProtocolHTTPProtobuf || c.Endpoint != "http://collector:4318/v1/traces" || c.ServiceName != "wsd" ||
				c.Sampler != SamplerParentBasedAlwaysOn || c.Timeout != DefaultExportTimeout || c.MaxQueueSize != 2048 {
				return "defaults"
			}
			return ""
		}},
		{"http base path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector/otlp/"}, func(c Config) string {
			if c.Endpoint != "https://collector/otlp/v1/traces" {
				return "endpoint " + c.Endpoint
			}
			return ""
		}},
		{"traces endpoint as is", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:2/custom"}, func(c Config) string {
			if c.Endpoint != "http://b:2/custom" {
				return "endpoint " + c.Endpoint
			}
			return ""
		}},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, func(c Config) string {
			if c.Protocol != ProtocolGRPC || c.Endpoint != "http://127.0.0.1:4317" {
				return "grpc " + c.Endpoint
			}
			return ""
		}},
		{"grpc host:port insecure", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, func(c Config) string {
			if c.Endpoint != "http://collector:4317" {
				return "endpoint " + c.Endpoint
			}
			return ""
		}},
		{"exporter otlp, default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, func(c Config) string {
			if !c.Enabled || c.Endpoint != "http://localhost:4317" {
				return "endpoint " + c.Endpoint
			}
			return ""
		}},
		{"sampler and resource", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=fromres,deployment.environment.name=prod,team=a%2Cb",
		}, func(c Config) string {
			if c.Sampler != SamplerParentBasedTraceIDRatio || c.SamplerArg != 0.25 || c.ServiceName != "fromres" {
				return "sampler/service"
			}
			want := []attribute.KeyValue{attribute.String("deployment.environment.name", "prod"), attribute.String("team", "a,b")}
			if len(c.Resource) != 2 || c.Resource[0] != want[0] || c.Resource[1] != want[1] {
				return "resource"
			}
			return ""
		}},
		{"service name wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=fromres", "OTEL_SERVICE_NAME": "explicit"}, func(c Config) string {
			if c.ServiceName != "explicit" {
				return "service " + c.ServiceName
			}
			return ""
		}},
		{"headers, timeout, bsp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
			"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%20y", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
			"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "50",
		}, func(c Config) string {
			if c.Headers["a"] != "1" || c.Headers["b"] != "2" || c.Timeout != 2500*time.Millisecond || c.Compression != "gzip" ||
				c.ScheduleDelay != 100*time.Millisecond || c.MaxQueueSize != 100 || c.MaxExportBatchSize != 50 {
				return "values"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(tc.vars))
			if err != nil {
				t.Fatal(err)
			}
			if !c.Enabled {
				t.Fatal("not enabled")
			}
			if msg := tc.want(c); msg != "" {
				t.Fatalf("%s: %+v", msg, c)
			}
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	ep := "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{ep: "c:4318"}, ep},
		{map[string]string{ep: "ftp://c:4318"}, ep},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "5s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{ep: "http://c:4318", "OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{map[string]string{ep: "http://c:4318", "OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"}, "batch size"},
		{map[string]string{ep: "http://c:4318", "OTEL_SDK_DISABLED": "yes please"}, "OTEL_SDK_DISABLED"},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/k"}, "go together"},
	} {
		_, err := FromEnv(env(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.vars, err, tc.want)
		}
	}
}
