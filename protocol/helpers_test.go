package protocol

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// echoHandler is a server that echoes every message until the connection
// ends, the way wsd's echo route does.
func echoHandler(opts *AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}
}

// startServer serves h on a loopback listener for the test's duration and
// returns its ws:// URL.
func startServer(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return "ws" + strings.TrimPrefix(s.URL, "http")
}

// testCtx returns a context bounded well inside the test timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closeCode extracts the close code from an error, or 0.
func closeCode(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// dialRaw opens a plain TCP connection to a ws:// URL's host.
func dialRaw(t testing.TB, wsURL string) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(wsURL, "ws://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	nc, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// httpHandlerFunc accepts with default options and runs f on the connection.
func httpHandlerFunc(f func(c *Conn)) http.HandlerFunc { return httpHandlerFunc2(nil, f) }

// streamConn is an in-memory net.Conn: reads come from r, writes are kept.
type streamConn struct {
	r      io.Reader
	w      bytes.Buffer
	closed bool
}

func (s *streamConn) Read(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.r.Read(p)
}

func (s *streamConn) Write(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.w.Write(p)
}

func (s *streamConn) Close() error                     { s.closed = true; return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// newStreamConn makes a Conn that reads the peer's bytes from r.
func newStreamConn(r io.Reader, client bool, o *Options) *Conn {
	nc := &streamConn{r: r}
	return newConn(nc, bufio.NewReader(nc), bufio.NewWriter(nc), client, o)
}

// httpHandlerFunc2 accepts with opts and runs f on the connection.
func httpHandlerFunc2(opts *AcceptOptions, f func(c *Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		f(c)
	}
}

// newPeerReader buffers a raw peer's reads.
func newPeerReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func validText(b []byte) bool { return utf8.Valid(b) }
