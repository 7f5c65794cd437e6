// Command floor is the least a Go WebSocket server can do per connection,
// a yardstick for the others rather than a peer: one goroutine per
// connection on a plain net.Listener, the request head scanned only for
// Sec-WebSocket-Key, unfragmented frames echoed, pings answered, a close
// answered and the connection closed. It validates nothing, records
// nothing and has no broadcast. What it costs per operation is close to
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

func serve(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 4096)
	if !handshake(nc, br) {
		return
	}
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
			_, _ = nc.Write(out)
			return
		case 0x9: // ping: pong
			out[0] = 0x80 | 0xa
		case 0xa:
			continue
		}
		if _, err := nc.Write(out); err != nil {
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

// handshake reads the request head and answers 101 with the accept key.
func handshake(nc net.Conn, br *bufio.Reader) bool {
	var key []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Sec-WebSocket-Key")) {
			key = append(key, bytes.TrimSpace(v)...)
		}
	}
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
