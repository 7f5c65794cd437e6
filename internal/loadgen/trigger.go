package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Trigger returns a BroadcastFunc that POSTs each payload to url (a peer
// server's /broadcast endpoint, see bench/) and reads the number of
// connections it was queued for from the response body. A nil hc means a
// new http.Client.
func Trigger(url string, hc *http.Client) BroadcastFunc {
	if hc == nil {
		hc = &http.Client{}
	}
	return func(ctx context.Context, payload []byte) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	}
}
