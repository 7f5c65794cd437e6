package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

func TestPrintTap(t *testing.T) {
	var b bytes.Buffer
	p := &printer{w: &b, format: "table", now: time.Now}
	at := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	for _, ev := range []apitype.TapEvent{
		{Type: "message", At: at, ID: "c1", Direction: "in", Message: "text", Size: 5},
		{Type: "message", At: at, ID: "c1", Direction: "out", Message: "text", Size: 300, Payload: []byte("hé"), Truncated: true, Dropped: 3},
		{Type: "message", At: at, ID: "c1", Direction: "out", Message: "binary", Size: 2, Payload: []byte{0, 0xff}},
	} {
		if err := p.tap(ev); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", b.String())
	}
	for i, want := range []string{"  c1  in  text  5B", `  c1  out  text  300B  "hé"…  (dropped 3 before this)`, "  c1  out  binary  2B  0x00ff"} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d: %q, want suffix %q", i, lines[i], want)
		}
	}
}

// TestTailStreamsLive runs `wsctl tail ID` against the real wsd and reads
// its stdout line by line as the connection's messages come and go: one
// line in and one out per echoed message, as they happen (issue 20).
func TestTailStreamsLive(t *testing.T) {
	bin := buildWSD(t)
	p := wsdtest.Start(t, wsdtest.Options{Bin: bin, Args: []string{"--route", "/=echo", "--label-from-query", "name"}})
	tok, err := exec.Command(bin, "token", "create", "--subject", "ops", "--scope", "admin", "--ttl", "1h", "--state-dir", p.StateDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	w := wsdtest.Dial(t, "ws://"+p.Addr+"/?name=alice", false)
	api, err := client.New("http://"+p.Admin, strings.TrimSpace(string(tok)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The client has its 101 a moment before the daemon lists it.
	var conns []apitype.Connection
	for deadline := time.Now().Add(10 * time.Second); len(conns) != 1; {
		if conns, _, err = api.AllConnections(ctx, "name=alice"); err != nil || time.Now().After(deadline) {
			t.Fatalf("alice: %v %v", conns, err)
		}
		if len(conns) != 1 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	id := conns[0].ID

	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	tailCtx, stopTail := context.WithCancel(ctx)
	exit := make(chan int, 1)
	go func() {
		exit <- run(tailCtx, []string{"tail", id}, serverEnv("http://"+p.Admin, strings.TrimSpace(string(tok)), pw, &stderr))
		pw.Close()
	}()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	// Until the tail is subscribed, messages go by unseen: send one every
	// 20 ms until a line comes (bounded), then the one to look for.
	send := func(s string) {
		t.Helper()
		if err := w.Conn.Write(ctx, protocol.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	warm := true
	for warm {
		select {
		case <-tick.C:
			send("warm")
		case l := <-lines:
			if !strings.Contains(l, id+"  in  text  4B") && !strings.Contains(l, id+"  out  text  4B") {
				t.Fatalf("first line %q", l)
			}
			warm = false
		case <-ctx.Done():
			t.Fatalf("no tail line; stderr %q", stderr.String())
		}
	}
	tick.Stop()
	const marker = "the message to look for"
	send(marker)
	want := map[string]bool{id + "  in  text  23B": false, id + "  out  text  23B": false}
	for seen := 0; seen < 2; {
		select {
		case l := <-lines:
			for suffix, done := range want {
				if !done && strings.HasSuffix(l, suffix) {
					want[suffix] = true
					seen++
				}
			}
		case <-ctx.Done():
			t.Fatalf("tail lines for the marker: %v; stderr %q", want, stderr.String())
		}
	}
	stopTail()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("wsctl tail exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wsctl tail did not end when interrupted")
	}
	for range lines { // the reader ends with the pipe
	}
}
