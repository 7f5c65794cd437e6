package daemon

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Webhook events, as metric labels and span names.
const (
	hookConnect = "connect"
	hookMessage = "message"
	hookClose   = "close"
)

// do sends one webhook request of c: timed for wsd_webhook_duration_seconds,
// counted in wsd_webhook_errors_total when it fails, and traced as a client
// span of c's session (whose traceparent the request carries). What
// counts as a failure depends on the event: a message must be answered 200
// or 204; connect and close events any 2xx, and a 4xx answer to connect is
// the application refusing the client, not a failure.
func (w *webhook) do(c *conn, event string, req *http.Request) (*http.Response, error) {
	span := c.tr.webhookSpan(req, event)
	start := time.Now()
	resp, err := w.d.client.Do(req)
	elapsed := time.Since(start)
	reason := ""
	switch {
	case err != nil:
		reason = transportReason(err)
	case event == hookMessage && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent,
		event != hookMessage && (resp.StatusCode < 200 || resp.StatusCode > 299) && !(event == hookConnect && resp.StatusCode < 500 && resp.StatusCode >= 400):
		reason = statusReason(resp.StatusCode)
	}
	w.d.met.webhook(event, elapsed, reason)
	endWebhookSpan(span, resp, err, reason)
	return resp, err
}

func transportReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err) || isNetTimeout(err):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "connection"
}

func isNetTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
