package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// Error is an error with the HTTP status and code it is answered with.
type Error struct {
	Status  int
	Code    string
	Message string
	Matched *int  // confirmation_required: the match count
	Err     error // the cause, for logs; never shown to the caller
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// apiError maps any error to the Error it is answered with: the daemon's
// and the history's (package session) sentinels to their statuses,
// anything unknown to 500.
func apiError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooBig *http.MaxBytesError
	var fu fleetUnavailable
	var un unknownNode
	switch {
	case errors.As(err, &un):
		return &Error{Status: http.StatusNotFound, Code: apitype.CodeNotFound, Message: "no node named " + un.UnknownNode(), Err: err}
	case errors.As(err, &fu) && fu.FleetUnavailable():
		return &Error{Status: http.StatusServiceUnavailable, Code: apitype.CodeUnavailable, Message: err.Error(), Err: err}
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: apitype.CodePayloadTooLarge,
			Message: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit), Err: err}
	case errors.Is(err, session.ErrConnNotFound), errors.Is(err, session.ErrInvalidID):
		return &Error{Status: http.StatusNotFound, Code: apitype.CodeNotFound, Message: "no live connection has this id", Err: err}
	case errors.Is(err, session.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: apitype.CodeNotFound, Message: "no session has this id", Err: err}
	case errors.Is(err, session.ErrInvalidSelector), errors.Is(err, session.ErrEmptySelector):
		return &Error{Status: http.StatusBadRequest, Code: apitype.CodeInvalidSelector, Message: err.Error()}
	case errors.Is(err, session.ErrInvalidClose):
		return &Error{Status: http.StatusBadRequest, Code: apitype.CodeBadRequest, Message: "invalid close code or reason (codes 1000, 1001, 1008, 1011-1014, 3000-4999; reason at most 123 bytes of UTF-8)"}
	case errors.Is(err, session.ErrClosing):
		return &Error{Status: http.StatusConflict, Code: apitype.CodeConflict, Message: "the connection is closing", Err: err}
	case errors.Is(err, session.ErrSlowConsumer):
		return &Error{Status: http.StatusConflict, Code: apitype.CodeConflict, Message: "the connection's send queue is full; it is being closed as a slow consumer", Err: err}
	case errors.Is(err, session.ErrDrainRunning):
		return &Error{Status: http.StatusConflict, Code: apitype.CodeConflict, Message: "a drain is running on this node; follow it with GET /v1/drain (wsctl drain --status) and wait for it to end", Err: err}
	case errors.Is(err, session.ErrTracingOff):
		return &Error{Status: http.StatusServiceUnavailable, Code: apitype.CodeUnavailable, Message: "tracing is off on this node: set OTEL_EXPORTER_OTLP_ENDPOINT (see the README's tracing section)", Err: err}
	case errors.Is(err, session.ErrDraining):
		return &Error{Status: http.StatusServiceUnavailable, Code: apitype.CodeUnavailable, Message: "wsd is shutting down", Err: err}
	case errors.Is(err, session.ErrInvalidFilter):
		return &Error{Status: http.StatusBadRequest, Code: apitype.CodeBadRequest, Message: err.Error()}
	case errors.Is(err, session.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: apitype.CodeUnavailable, Message: "session history is unavailable (the store is degraded; see /v1/stats)", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: apitype.CodeUnavailable, Message: "timed out", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: apitype.CodeInternal, Message: "internal error", Err: err}
}

// fleetUnavailable is an error of a fleet's Hub or History saying that
// the nodes a call needed did not answer (the bus or the node is down).
type fleetUnavailable interface {
	error
	FleetUnavailable() bool
}

// unknownNode is an error of a fleet's Hub saying that no node of the
// fleet has the name a call gave.
type unknownNode interface {
	error
	UnknownNode() string
}

// writeError renders err. It is the only place errors are written.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apiError(err)
	if e.Status >= 500 {
		s.log.Warn("admin request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wsd", error="invalid_token"`)
	}
	s.writeJSON(w, r, e.Status, apitype.Error{Error: apitype.ErrorBody{Code: e.Code, Message: e.Message, Matched: e.Matched}})
}

// writeJSON writes v with status. An encoding or write error can only be
// logged: the status line is gone.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("admin: encode answer", "path", r.URL.Path, "err", err)
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		s.log.Debug("admin: write answer", "path", r.URL.Path, "err", err)
	}
}
