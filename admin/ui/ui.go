// Package ui is wsd's web console (PRODUCT.md §11): static files embedded
// in the binary and served under /ui/ on the admin listener. The console is
// plain ES modules and CSS, with no build step and nothing fetched at run
// time; it is a client of the public /v1 API and holds no secret of its
// own: the operator pastes a token, which the page keeps in sessionStorage.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every answer of the console: nothing
// inline, nothing from another origin, no framing, no forms posting
// anywhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

//go:embed static
var static embed.FS

// contentTypes maps the extensions the console uses to their types; a file
// of any other extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// file is one embedded file, read once.
type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console. Mount it at Prefix ("/ui/"); it also
// answers "/ui" with a redirect to "/ui/". It sets the security headers on
// every answer, serves index.html for "/ui/", answers 404 for anything
// else it does not hold and 405 for methods other than GET and HEAD.
type Handler struct {
	files map[string]file // by path under static/, "index.html"
}

// NewHandler returns the console's handler.
func NewHandler() (*Handler, error) {
	return newHandler(static, "static")
}

func newHandler(fsys fs.FS, root string) (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("ui: %s: no content type for its extension", p)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("ui: %w", err)
		}
		sum := sha256.Sum256(body)
		h.files[strings.TrimPrefix(p, root+"/")] = file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("ui: no index.html under %s", root)
	}
	return h, nil
}

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		hd.Set("Cache-Control", "no-store")
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		h.notFound(w)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok || path.Clean("/"+name) != "/"+name {
		h.notFound(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		hd.Set("Cache-Control", "no-store")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The files change only with the binary: a browser keeps them but
	// asks each time whether they are still current (ETag), so that an
	// upgraded wsd serves its own console at once.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("Content-Type", f.ctype)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

func (h *Handler) notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "404 page not found", http.StatusNotFound)
}
