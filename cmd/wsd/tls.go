package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"sync/atomic"
)

// tlsConfig names the certificate and key files of a listener (PRODUCT.md
// §12); both empty means plain TCP.
type tlsConfig struct {
	cert, key string
}

func (t *tlsConfig) flags(fs *flag.FlagSet, prefix, what string) {
	fs.StringVar(&t.cert, prefix+"tls-cert", "", "PEM certificate chain: serve "+what+" over TLS (with --"+prefix+"tls-key; re-read on SIGHUP)")
	fs.StringVar(&t.key, prefix+"tls-key", "", "PEM private key of --"+prefix+"tls-cert")
}

func (t tlsConfig) enabled() bool { return t.cert != "" || t.key != "" }

func (t tlsConfig) validate(prefix string) error {
	if (t.cert == "") != (t.key == "") {
		return fmt.Errorf("--%stls-cert and --%stls-key go together", prefix, prefix)
	}
	return nil
}

// certSource serves a listener's certificate and swaps in the files'
// current contents on reload, so that a renewed certificate is used by new
// connections without dropping the open ones.
type certSource struct {
	files tlsConfig
	cur   atomic.Pointer[tls.Certificate]
}

func newCertSource(files tlsConfig) (*certSource, error) {
	c := &certSource{files: files}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on error the certificate in use stays.
func (c *certSource) reload() error {
	cert, err := tls.LoadX509KeyPair(c.files.cert, c.files.key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s: %w", c.files.cert, err)
	}
	c.cur.Store(&cert)
	return nil
}

// serverConfig is the listener's TLS configuration: TLS 1.2 or later, and
// HTTP/1.1 only in ALPN (a WebSocket upgrade, and the admin API's event
// stream, are HTTP/1.1; a browser offered h2 must not get it).
func (c *certSource) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// tlsListeners wraps the listeners whose TLS is configured and returns the
// certificate sources to reload on SIGHUP.
func tlsListeners(cfg config, ws []net.Listener, admin net.Listener) ([]net.Listener, net.Listener, []*certSource, error) {
	var sources []*certSource
	if cfg.tls.enabled() {
		src, err := newCertSource(cfg.tls)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--tls-cert: %w", err)
		}
		sources = append(sources, src)
		for i, ln := range ws {
			ws[i] = tls.NewListener(ln, src.serverConfig())
		}
	}
	if cfg.adminTLS.enabled() {
		src, err := newCertSource(cfg.adminTLS)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--admin-tls-cert: %w", err)
		}
		sources = append(sources, src)
		admin = tls.NewListener(admin, src.serverConfig())
	}
	return ws, admin, sources, nil
}

// reloadCerts re-reads every certificate; it returns the errors of those
// that failed (and kept their old certificate).
func reloadCerts(sources []*certSource) error {
	var errs []error
	for _, s := range sources {
		errs = append(errs, s.reload())
	}
	return errors.Join(errs...)
}
