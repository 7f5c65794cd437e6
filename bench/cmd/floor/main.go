// Command floor is the least a Go WebSocket server can do per connection,
// a yardstick for the others rather than a peer: one goroutine per
// connection on a plain net.Listener, the request head scanned only for
// Sec-WebSocket-Key, unfragmented frames echoed, pings answered, a close
// answered and the connection closed. POST /broadcast writes its body as
// one binary frame to every connection, one write each. It validates
// nothing and records nothing. What it costs per operation is close to
// what the kernel and the Go runtime charge any server on this machine.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
)

const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	for {
		nc, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		go serve(nc)
	}
}

// conn is a live WebSocket connection; mu keeps the echo's frames and a
// broadcast's whole.
type conn struct {
	nc net.Conn
	mu sync.Mutex
}

var live = struct {
	sync.Mutex
	m map[*conn]struct{}
}{m: map[*conn]struct{}{}}

func serve(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 4096)
	key, body, ok := readHead(br)
	switch {
	case !ok:
		return
	case body >= 0:
		broadcast(nc, br, body)
		return
	case !handshake(nc, key):
		return
	}
	c := &conn{nc: nc}
	live.Lock()
	live.m[c] = struct{}{}
	live.Unlock()
	defer func() {
		live.Lock()
		delete(live.m, c)
		live.Unlock()
	}()
	var hdr [14]byte
	buf := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		op := hdr[0] & 0x0f
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(br, hdr[2:10]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		var key [4]byte
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return
		}
		if n > 1<<24 {
			return
		}
		buf = buf[:0]
		out := appendHeader(buf, 0x80|op, int(n))
		h := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := io.ReadFull(br, out[h:]); err != nil {
			return
		}
		for i := range out[h:] {
			out[h+i] ^= key[i&3]
		}
		switch op {
		case 0x8: // close: echo it, then close
			_, _ = c.write(out)
			return
		case 0x9: // ping: pong
			out[0] = 0x80 | 0xa
		case 0xa:
			continue
		}
		if _, err := c.write(out); err != nil {
			return
		}
		buf = out[:0]
	}
}

func appendHeader(b []byte, b0 byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, b0, byte(n))
	case n < 1<<16:
		return append(b, b0, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, b0, 127), uint64(n))
}

func (c *conn) write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.Write(p)
}

// readHead reads a request head: the WebSocket key of an upgrade, or for
// POST /broadcast the body's length (body is -1 otherwise).
func readHead(br *bufio.Reader) (key []byte, body int, ok bool) {
	body = -1
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, 0, false
		}
		if first {
			if bytes.HasPrefix(line, []byte("POST /broadcast ")) {
				body = 0
			}
			first = false
			continue
		}
		if len(line) <= 2 {
			break
		}
		k, v, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		switch {
		case bytes.EqualFold(k, []byte("Sec-WebSocket-Key")):
			key = append(key, bytes.TrimSpace(v)...)
		case body >= 0 && bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 || n > 1<<24 {
				return nil, 0, false
			}
			body = n
		}
	}
	return key, body, body >= 0 || key != nil
}

// broadcast sends the request's body to every connection as one binary
// frame and answers how many took it.
func broadcast(nc net.Conn, br *bufio.Reader, n int) {
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return
	}
	frame := append(appendHeader(nil, 0x82, n), msg...)
	live.Lock()
	conns := make([]*conn, 0, len(live.m))
	for c := range live.m {
		conns = append(conns, c)
	}
	live.Unlock()
	sent := 0
	for _, c := range conns {
		if _, err := c.write(frame); err == nil {
			sent++
		}
	}
	body := strconv.Itoa(sent) + "\n"
	_, _ = fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// handshake answers 101 with the accept key.
func handshake(nc net.Conn, key []byte) bool {
	if key == nil {
		return false
	}
	sum := sha1.Sum(append(key, guid...))
	resp := make([]byte, 0, 160)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = base64.StdEncoding.AppendEncode(resp, sum[:])
	resp = append(resp, "\r\n\r\n"...)
	_, err := nc.Write(resp)
	return err == nil
}
