package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// adminAPI calls one node's admin API with an admin token.
type adminAPI struct {
	base  string // http://HOST:PORT
	token string
	hc    *http.Client
}

func newAdminAPI(addr, token string) *adminAPI {
	return &adminAPI{base: "http://" + addr, token: token, hc: &http.Client{Timeout: 2 * time.Minute}}
}

// do sends a request and decodes a 200 answer into out.
func (a *adminAPI) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

func (a *adminAPI) nodes(ctx context.Context) (*apitype.NodeList, error) {
	var nl apitype.NodeList
	return &nl, a.do(ctx, http.MethodGet, "/v1/nodes", nil, &nl)
}

func (a *adminAPI) stats(ctx context.Context) (*apitype.Stats, error) {
	var st apitype.Stats
	return &st, a.do(ctx, http.MethodGet, "/v1/stats", nil, &st)
}

func (a *adminAPI) broadcastAll(ctx context.Context, text string) (*apitype.BulkResult, error) {
	var res apitype.BulkResult
	return &res, a.do(ctx, http.MethodPost, "/v1/broadcast", apitype.BroadcastRequest{All: true, Text: &text}, &res)
}

func (a *adminAPI) connections(ctx context.Context, limit int, after string) (*apitype.ConnectionList, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var cl apitype.ConnectionList
	return &cl, a.do(ctx, http.MethodGet, "/v1/connections?"+q.Encode(), nil, &cl)
}
