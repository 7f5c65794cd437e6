package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes the API; a test checks it against the router.
//
//go:embed openapi.json
var openAPIDocument []byte

// GET /v1/openapi.json
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	if _, err := w.Write(openAPIDocument); err != nil {
		s.log.Debug("admin: write openapi", "err", err)
	}
	return nil
}
