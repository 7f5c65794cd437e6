package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRoute(t *testing.T) {
	for _, tt := range []struct {
		in, err string
		want    Route
	}{
		{in: "/=echo", want: Route{Path: "/", Handler: "echo"}},
		{in: "/chat=relay:room", want: Route{Path: "/chat", Handler: "relay", Arg: "room"}},
		{in: "/h=webhook:https://app.example/hook?x=1", want: Route{Path: "/h", Handler: "webhook", Arg: "https://app.example/hook?x=1"}},
		{in: "/feed/=sink", want: Route{Path: "/feed/", Handler: "sink"}},
		{in: "echo", err: "want PATH=HANDLER"},
		{in: "chat=echo", err: "must start with /"},
		{in: "/=nope", err: "unknown handler"},
		{in: "/=echo:x", err: "takes no argument"},
		{in: "/=relay", err: "needs a label"},
		{in: "/=relay:bad label", err: "relay label"},
		{in: "/=webhook:/relative", err: "absolute http"},
		{in: "/a b=echo", err: "spaces"},
	} {
		got, err := ParseRoute(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRoute(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want.String() {
			t.Errorf("ParseRoute(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Routes = nil }, "at least one route"},
		{func(c *Config) { c.Routes = append(c.Routes, c.Routes[0]) }, "appears twice"},
		{func(c *Config) { c.MaxConnections = 0 }, "max-connections"},
		{func(c *Config) { c.MaxMessagesPerSecond = -1 }, "max-messages-per-second"},
		{func(c *Config) { c.MaxBytesBurst = -1 }, "max-bytes-per-second"},
		{func(c *Config) { c.MaxFrameSize = c.MaxMessageSize + 1 }, "max-frame-size"},
		{func(c *Config) { c.PongTimeout = 0 }, "pong-timeout"},
		{func(c *Config) { c.SendQueueBytes = -1 }, "send-queue-bytes"},
		{func(c *Config) { c.HandshakeRate, c.HandshakeBurst = 20, 0 }, "handshake-burst"},
		{func(c *Config) { c.Subprotocols = []string{"a b"} }, "subprotocols"},
		{func(c *Config) { c.AllowedOrigins = []string{"https://x"} }, "allowed-origins"},
		{func(c *Config) { c.WriteBufferSize = 16 }, "write-buffer-size"},
		{func(c *Config) { c.Routes = []Route{{Path: "/", Handler: handlerPanic}} }, "unknown handler"},
	} {
		c := DefaultConfig()
		tt.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("want error naming %q, got %v", tt.want, err)
		}
	}
	c := DefaultConfig()
	c.TestHandlers = true
	c.Routes = []Route{{Path: "/", Handler: handlerPanic}}
	if err := c.Validate(); err != nil {
		t.Errorf("test handler with TestHandlers: %v", err)
	}
}

func TestRouteMatch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Path: "/", Handler: "echo"}, {Path: "/chat", Handler: "sink"}, {Path: "/api/", Handler: "sink"}, {Path: "/api/v2/", Handler: "echo"}}
	d := &Daemon{}
	rc := d.compile(cfg, nil)
	for path, want := range map[string]string{
		"/": "/", "/x": "/", "/chat": "/chat", "/chat/": "/", "/api/": "/api/", "/api/x": "/api/", "/api/v2/y": "/api/v2/",
	} {
		if got := rc.match(path); got == nil || got.Path != want {
			t.Errorf("match(%q) = %v, want %s", path, got, want)
		}
	}
	cfg.Routes = cfg.Routes[1:]
	rc2 := d.compile(cfg, rc)
	if rc2.match("/x") != nil {
		t.Error("/x matched without a / route")
	}
	if rc2.lookup("/chat") != rc.lookup("/chat") {
		t.Error("an unchanged route was not kept across a reload")
	}
	_ = time.Second
}
