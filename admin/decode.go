package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// Page sizes of the live connection list.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// decodeJSON decodes the body into dst: it must be JSON (by Content-Type,
// which also keeps HTML forms out), at most MaxBodyBytes, one value with no
// unknown fields.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "the body must be JSON (Content-Type: application/json)")
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "empty body")
		}
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "bad JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "bad JSON body: data after the object")
	}
	return nil
}

// query returns the request's query parameters, refusing unknown ones (a
// misspelt filter must not silently widen a query) and repeated ones.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "bad query string: %v", err)
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "unknown query parameter %q (allowed: %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "query parameter %q given %d times", k, len(v))
		}
	}
	return q, nil
}

// intParam parses an integer parameter in [lo, hi]; absent is def.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "%s=%q: want an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// timeParam parses an RFC 3339 time, or a duration meaning that long
// before now ("90s", "1h", "7d").
func timeParam(q url.Values, name string, now time.Time) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := parseAgo(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "%s=%q: want an RFC 3339 time or a duration such as 1h or 7d", name, v)
}

func parseAgo(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100000 {
			return 0, errors.New("bad days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// message returns the payload of a text-or-binary body.
func message(text *string, binary []byte) (typ session.MessageType, p []byte, err error) {
	switch {
	case text != nil && binary != nil:
		return 0, nil, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "give text or binary, not both")
	case text != nil:
		return session.Text, []byte(*text), nil
	case binary != nil:
		return session.Binary, binary, nil
	}
	return 0, nil, errorf(http.StatusBadRequest, apitype.CodeBadRequest, "give the message as text or binary (base64)")
}
