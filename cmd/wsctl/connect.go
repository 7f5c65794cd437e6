package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/protocol"
)

func newConnect(g *globals) *cobra.Command {
	var (
		headers      []string
		subprotocols []string
		bearer       string
		linger       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "connect URL",
		Short: "Interactive WebSocket client: stdin lines out, messages to stdout",
		Long:  "Connect to a WebSocket URL (ws:// or wss://). Each line of stdin is sent as a text message;\neach message received is printed on its own line (binary ones as [binary N bytes] BASE64).\nAt the end of stdin wsctl keeps printing what arrives until --linger passes without a message,\nthen closes with 1000; a close from the server is reported on stderr.",
		Args:  exactArgs(1, "a ws:// or wss:// URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &protocol.DialOptions{Header: http.Header{}, Subprotocols: subprotocols}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return usagef("-H %q: want \"Name: value\"", h)
				}
				opts.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if bearer != "" {
				opts.Header.Set("Authorization", "Bearer "+bearer)
			}
			return connect(cmd.Context(), g, args[0], opts, linger)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&headers, "header", "H", nil, "extra request header \"Name: value\"; repeatable")
	f.StringSliceVar(&subprotocols, "subprotocol", nil, "subprotocols to offer, in order of preference")
	f.StringVar(&bearer, "bearer", "", "client token, sent as Authorization: Bearer (for --client-auth=jwt)")
	f.DurationVar(&linger, "linger", time.Second, "after the end of stdin, wait this long without a message before closing (answers still on their way)")
	return cmd
}

func connect(ctx context.Context, g *globals, url string, opts *protocol.DialOptions, linger time.Duration) error {
	dctx, cancel := g.call(ctx)
	conn, _, err := protocol.Dial(dctx, url, opts)
	cancel()
	if err != nil {
		var de *protocol.DialError
		if errors.As(err, &de) && de.Response != nil {
			return fmt.Errorf("%s refused the WebSocket handshake: %s", url, de.Response.Status)
		}
		return fmt.Errorf("connect %s: %w", url, err)
	}
	if isTerminal(g.stdin) {
		fmt.Fprintf(g.stderr, "connected to %s (subprotocol %s); type messages, end with Ctrl-D\n", url, orDash(conn.Subprotocol()))
	}

	// The reader prints messages until the connection ends.
	readDone := make(chan error, 1)
	received := make(chan struct{}, 1)
	go func() {
		for {
			typ, p, err := conn.Read(context.Background())
			if err != nil {
				readDone <- err
				return
			}
			select {
			case received <- struct{}{}:
			default:
			}
			if typ == protocol.BinaryMessage {
				fmt.Fprintf(g.stdout, "[binary %d bytes] %s\n", len(p), base64.StdEncoding.EncodeToString(p))
			} else {
				fmt.Fprintln(g.stdout, string(p))
			}
		}
	}()
	// stdin is read on its own goroutine, which cannot be interrupted; it
	// ends with the process when the server closes first.
	stdinDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(g.stdin)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			if err := conn.Write(context.Background(), protocol.TextMessage, sc.Bytes()); err != nil {
				stdinDone <- err
				return
			}
		}
		stdinDone <- sc.Err()
	}()

	var readErr error
	select {
	case readErr = <-readDone:
	case err := <-stdinDone:
		if err != nil {
			readErr = <-readDone
			break
		}
		t := time.NewTimer(linger)
	quiet:
		for {
			select {
			case <-received:
				t.Reset(linger)
			case <-t.C:
				break quiet
			case readErr = <-readDone:
				t.Stop()
				break quiet
			}
		}
		if readErr == nil {
			if cerr := conn.Close(protocol.StatusNormalClosure, ""); cerr != nil {
				fmt.Fprintf(g.stderr, "wsctl: close: %v\n", cerr)
			}
			readErr = <-readDone
		}
	case <-ctx.Done():
		if cerr := conn.Close(protocol.StatusGoingAway, ""); cerr != nil {
			fmt.Fprintf(g.stderr, "wsctl: close: %v\n", cerr)
		}
		<-readDone
		return nil
	}
	var ce *protocol.CloseError
	if errors.As(readErr, &ce) {
		if !ce.Local && ce.Code != protocol.StatusNormalClosure {
			fmt.Fprintf(g.stderr, "closed by the server: %s\n", closeCode(int(ce.Code), ce.Reason))
		}
		return nil
	}
	if errors.Is(readErr, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("connection to %s lost: %w", url, readErr)
}
