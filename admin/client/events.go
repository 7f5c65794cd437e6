package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// maxEventLine bounds one line of the event stream.
const maxEventLine = 1 << 20

// ErrStreamEnded: the server ended the event stream (it is shutting down).
var ErrStreamEnded = errors.New("wsd ended the event stream (shutting down)")

// Watch calls fn with every connect and close event from now on until ctx
// is done (it returns ctx.Err()), fn returns an error (returned as is), or
// the server ends the stream (ErrStreamEnded). subscribed, if not nil, is
// called once the server has registered the subscription. When the server
// ends a stream only to have it renewed (apitype.EndReconnect), Watch
// reconnects with Last-Event-ID and goes on without losing events.
func (c *Client) Watch(ctx context.Context, subscribed func(), fn func(apitype.Event) error) error {
	var lastID string
	for {
		err := c.watchOnce(ctx, &lastID, subscribed, fn)
		if !errors.Is(err, errRenew) {
			return err
		}
		subscribed = nil // once
	}
}

// errRenew: the server asked for the stream to be renewed.
var errRenew = errors.New("event stream renewed")

// watchOnce reads one event stream, resuming after *lastID when it is set
// and keeping it up to date.
func (c *Client) watchOnce(ctx context.Context, lastID *string, subscribed func(), fn func(apitype.Event) error) error {
	var hdr http.Header
	if *lastID != "" {
		hdr = http.Header{"Last-Event-Id": {*lastID}}
	}
	resp, err := c.sendHeader(ctx, http.MethodGet, "/v1/events", nil, nil, "text/event-stream", hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	var (
		name, id string
		data     bytes.Buffer
		seen     bool
	)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // dispatch
			if data.Len() > 0 {
				var ev apitype.Event
				if err := json.Unmarshal(data.Bytes(), &ev); err != nil {
					return fmt.Errorf("event stream: %w", err)
				}
				if ev.Type == "" {
					ev.Type = name
				}
				if ev.Type == apitype.EventEnd {
					if ev.Reason == apitype.EndReconnect {
						return errRenew
					}
					return ErrStreamEnded
				}
				if err := fn(ev); err != nil {
					return err
				}
				if id != "" {
					*lastID = id
				}
			}
			name, id = "", ""
			data.Reset()
		case line[0] == ':': // comment: the first says subscribed, then heartbeats
			if !seen {
				seen = true
				if subscribed != nil {
					subscribed()
				}
			}
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				name = string(value)
			case "id":
				id = string(value)
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.Write(value)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return fmt.Errorf("event stream: %w", io.ErrUnexpectedEOF)
}
