package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The server handshake in steps, for servers that read the request
// themselves: HeadReader reads the head, the server admits, routes and
// authenticates, then Upgrade completes the handshake or Reject refuses it.
// Accept (net/http) and AcceptRaw are compositions of these steps and share
// their validation (checkRequest) and response (finishUpgrade).

// defaultMaxHeaderBytes bounds a request head when the caller gives no limit.
const defaultMaxHeaderBytes = 8 << 10

// HeadReader reads the head of an HTTP/1.1 request (request line and header
// fields) from a connection and refuses heads above a size limit. Servers
// that read many handshakes pool HeadReaders: Reset points one at the next
// connection, and its buffer need not hold a whole head. The zero value
// is ready for Reset, with a buffer of DefaultBufferSize.
//
// A HeadReader is not safe for concurrent use.
type HeadReader struct {
	lim headLimiter
	br  *bufio.Reader
}

// NewHeadReader returns a HeadReader whose buffer holds size bytes
// (DefaultBufferSize if size <= 0; bufio's minimum is 16). Reset it before
// each request.
func NewHeadReader(size int) *HeadReader {
	if size <= 0 {
		size = DefaultBufferSize
	}
	h := &HeadReader{}
	h.br = bufio.NewReaderSize(&h.lim, size)
	return h
}

// Reset discards any buffered bytes and makes h read the next request head
// from r, at most maxHeaderBytes bytes of it (8 KiB if maxHeaderBytes <= 0).
// Reset(nil, 0) drops the reference to the previous connection, for
// putting h back in a pool.
func (h *HeadReader) Reset(r io.Reader, maxHeaderBytes int) {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = defaultMaxHeaderBytes
	}
	h.lim = headLimiter{r: r, left: maxHeaderBytes}
	if h.br == nil {
		h.br = bufio.NewReaderSize(&h.lim, DefaultBufferSize)
		return
	}
	h.br.Reset(&h.lim)
}

// ReadRequest reads and parses a request head. The caller bounds how long
// it may take with the connection's deadline. Its errors tell what to do:
//
//   - a *HandshakeError wrapping ErrHeadTooLarge: the head did not end
//     within the limit; answer its Status, 431.
//   - a *HandshakeError wrapping ErrMalformedRequest: the bytes read are not
//     an HTTP/1.x request head; answer its Status, 400.
//   - any other error is the connection's: the head was cut short by a
//     read error, returned wrapped. A deadline that passed, even in the
//     middle of a header line (a slow client, or a slowloris attack),
//     matches errors.Is(err, os.ErrDeadlineExceeded); a connection closed
//     before any byte arrived matches io.EOF, one closed in the middle of
//     the head io.ErrUnexpectedEOF. There is no one to answer.
//
// After a successful read, Reader returns the bytes the client sent past the
// head and the size limit no longer applies.
//
// A head that lies whole in h's buffer, in the form WebSocket clients send
// (GET, an origin-form target, HTTP/1.1, one Host, no body), is parsed in
// place with a few allocations; any other goes through
// net/http.ReadRequest. Both build the same request and refuse the same
// heads. The request's target and header values share one string, but
// for Origin and User-Agent, which have their own: a server that keeps
// another value for long may strings.Clone it.
func (h *HeadReader) ReadRequest() (*http.Request, error) {
	if req, ok := h.readLean(); ok {
		h.lim.left = -1
		return req, nil
	}
	req, err := http.ReadRequest(h.br)
	if err == nil {
		h.lim.left = -1 // the head is read: no more limit
		return req, nil
	}
	return nil, h.lim.classify(err)
}

// Reader returns h's buffered reader. After a successful ReadRequest it
// holds the bytes the client sent past the head (its first frames, if it
// did not wait for the 101) and reads on from the connection without a
// limit: it can be the connection's reader (Upgrade), or the caller can
// take what it buffered (Peek(Buffered())) into a reader of its own before
// reusing h.
func (h *HeadReader) Reader() *bufio.Reader { return h.br }

// headLimiter caps how much of a request head is read and records why
// reading stopped, so that ReadRequest can tell a cut-short head from a
// malformed one: bufio and net/textproto drop a read error that comes after
// part of a line and report the part as malformed.
type headLimiter struct {
	r    io.Reader
	left int   // bytes the head may still take; < 0 lifts the cap
	n    int   // bytes read
	err  error // the first error r returned, or errHeadLimit
}

// errHeadLimit is what headLimiter returns once the limit is reached.
var errHeadLimit = errors.New("request head limit reached")

func (l *headLimiter) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		if l.err == nil {
			l.err = errHeadLimit
		}
		return 0, errHeadLimit
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	l.n += n
	if err != nil && l.err == nil {
		l.err = err
	}
	return n, err
}

// classify turns a failed http.ReadRequest into ReadRequest's error.
func (l *headLimiter) classify(err error) error {
	switch {
	case l.err == errHeadLimit:
		return &HandshakeError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head too large", kind: ErrHeadTooLarge}
	case l.err == io.EOF && l.n > 0:
		return fmt.Errorf("read request head: %w after %d bytes", io.ErrUnexpectedEOF, l.n)
	case l.err != nil:
		return fmt.Errorf("read request head: %w", l.err)
	}
	// Every read succeeded: what was read is not a request head.
	return malformed(err)
}

func malformed(err error) error {
	return &HandshakeError{Status: http.StatusBadRequest, Reason: "malformed HTTP request", kind: ErrMalformedRequest, detail: err}
}

// readRequestFailed classifies an error of http.ReadRequest on a reader
// that records nothing: I/O errors stay themselves, the rest is malformed.
// A bad request target is a *url.Error, which is also a net.Error.
func readRequestFailed(err error) error {
	var ue *url.Error
	var ne net.Error
	if !errors.As(err, &ue) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)) {
		return fmt.Errorf("read request head: %w", err)
	}
	return malformed(err)
}

// Upgrade completes the opening handshake of req, a request the caller read
// from nc (with a HeadReader, say) and has admitted, routed and
// authenticated. It validates the request (RFC 6455 §4.2.1), negotiates the
// subprotocol and extensions, and answers 101 Switching Protocols; the
// returned Conn reads and writes through rw.
//
// rw.Reader must read from nc and hold whatever the client sent past the
// head (HeadReader.Reader does). rw.Writer must write to nc; the 101 is
// written and flushed through it. Either, or rw itself, may be nil: Upgrade
// then makes one on nc of the size in opts (ReadBufferSize,
// WriteBufferSize). Buffers given are used as they are, whatever their size.
//
// A request that is not a valid WebSocket upgrade is refused: Upgrade writes
// the error response to nc with Reject and returns a *HandshakeError (joined
// with the write's error, if any); it never answers 101 to an invalid
// request. Other errors (the 101 could not be written, opts are invalid)
// are not *HandshakeErrors. Upgrade never closes nc: on any error the caller
// does. The caller bounds the handshake with nc's deadline and clears it
// once Upgrade returns.
func Upgrade(nc net.Conn, rw *bufio.ReadWriter, req *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if err := opts.Compression.validate(); err != nil {
		return nil, fmt.Errorf("upgrade: %w", errors.Join(err, Reject(nc, http.StatusInternalServerError, nil, "websocket: server misconfigured")))
	}
	n, herr, hdr := checkRequest(req, opts)
	if herr != nil {
		if err := Reject(nc, herr.Status, hdr, herr.Reason); err != nil {
			return nil, errors.Join(herr, err)
		}
		return nil, herr
	}
	var br *bufio.Reader
	var bw *bufio.Writer
	if rw != nil {
		br, bw = rw.Reader, rw.Writer
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, opts.readBufferSize())
	}
	if bw == nil {
		bw = bufio.NewWriterSize(nc, opts.writeBufferSize())
	}
	return finishUpgrade(nc, br, bw, n, opts)
}

// finishUpgrade answers a valid handshake with 101 and makes the Conn.
func finishUpgrade(nc net.Conn, br *bufio.Reader, bw *bufio.Writer, n negotiation, opts *AcceptOptions) (*Conn, error) {
	// The response is built in bw's buffer when it fits, else in a lent
	// one (a server that keeps small write buffers per connection).
	b := bw.AvailableBuffer()
	var lent *[]byte
	if cap(b) < minResponseSize {
		lent = responseBufs.Get().(*[]byte)
		b = (*lent)[:0]
	}
	b = appendResponse(b, n, opts.ResponseHeader)
	_, err := bw.Write(b) // an io.Writer does not keep b
	if lent != nil && cap(b) <= responseBufSize {
		*lent = b[:0]
		responseBufs.Put(lent)
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade: write response: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("upgrade: write response: %w", err)
	}
	c := newConn(nc, br, bw, false, &opts.Options)
	c.subproto, c.exts, c.df = n.subproto, n.exts, n.deflate
	return c, nil
}

// minResponseSize is the size of the smallest 101 response: no
// subprotocol, no extension, no extra field.
const minResponseSize = len("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ") + 28 + len("\r\n\r\n")

// responseBufSize is the capacity of the buffers responseBufs lends; a
// response that outgrew one is not kept.
const responseBufSize = 512

// responseBufs lends 101 responses the bytes that their connection's
// write buffer has no room for.
var responseBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, responseBufSize)
	return &b
}}

// Reject writes a complete HTTP/1.1 error response to w in one Write, for a
// handshake that is refused (Upgrade refuses invalid ones with it; servers
// that admit, route or authenticate refuse with it too). The response is
// the status line, then Content-Type: text/plain; charset=utf-8,
// X-Content-Type-Options: nosniff and Connection: close, then the fields of
// hdr in sorted order (such as Retry-After; CR and LF are dropped from
// names and values, and Content-Type, Content-Length and Connection in hdr
// are ignored), then Content-Length and the body: msg and a newline.
//
// Reject does not modify hdr, so refusals can share one (a fixed
// Retry-After, say). The caller closes the connection afterwards; to be
// sure the client reads the response first, it may half-close and drain
// the connection.
func Reject(w io.Writer, status int, hdr http.Header, msg string) error {
	size := len("HTTP/1.1 000 \r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: 0000000000\r\n\r\n\n") +
		len(http.StatusText(status)) + len(msg)
	var keysArr [8]string
	keys := keysArr[:0]
	for k, vs := range hdr {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type", "Content-Length", "Connection":
			continue
		}
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"...)
	for _, k := range keys {
		for _, v := range hdr[k] {
			b = appendField(b, k, v)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)+1), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, msg...)
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write %d response: %w", status, err)
	}
	return nil
}

// appendField appends a header field, dropping CR and LF so that no value
// can end the head or add a field.
func appendField(b []byte, k, v string) []byte {
	b = append(b, strings.Map(dropCRLF, k)...)
	b = append(b, ": "...)
	b = append(b, strings.Map(dropCRLF, v)...)
	return append(b, "\r\n"...)
}
