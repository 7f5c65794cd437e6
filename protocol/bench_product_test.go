package protocol

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// The daemon's handshake as of this file (daemon/accept.go): it reads the
// head through its own limitReader and completes the handshake through
// Accept with a fake ResponseWriter. Kept only to measure it.

type benchLimitReader struct {
	r    io.Reader
	left int
}

func (l *benchLimitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errors.New("too large")
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}

type benchHeadReader struct {
	lim benchLimitReader
	br  *bufio.Reader
}

var benchHeadPool = sync.Pool{New: func() any {
	h := &benchHeadReader{}
	h.br = bufio.NewReaderSize(&h.lim, 4096)
	return h
}}

type benchHijackWriter struct {
	nc net.Conn
	rw *bufio.ReadWriter
	h  http.Header
}

func (w *benchHijackWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header)
	}
	return w.h
}
func (w *benchHijackWriter) WriteHeader(int)             {}
func (w *benchHijackWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchHijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, w.rw, nil
}

func benchProductHandshake(nc net.Conn, opts *AcceptOptions) error {
	hr := benchHeadPool.Get().(*benchHeadReader)
	hr.lim = benchLimitReader{r: nc, left: 16 << 10}
	hr.br.Reset(&hr.lim)
	req, err := http.ReadRequest(hr.br)
	hr.lim = benchLimitReader{}
	hr.br.Reset(&hr.lim)
	benchHeadPool.Put(hr)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 16)
	w := &benchHijackWriter{nc: nc, rw: bufio.NewReadWriter(br, bufio.NewWriterSize(nc, opts.WriteBufferSize))}
	_, err = Accept(w, req, opts)
	return err
}
