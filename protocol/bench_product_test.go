package protocol

import (
	"bufio"
	"net"
	"sync"
)

// benchHeadPool pools HeadReaders the way wsd's daemon does: only
// connections in their handshake hold one.
var benchHeadPool = sync.Pool{New: func() any { return NewHeadReader(4096) }}

// benchProductHandshake is wsd's daemon handshake (daemon/accept.go): a
// pooled HeadReader reads the head, then Upgrade completes the handshake
// with the daemon's own small buffers.
func benchProductHandshake(nc net.Conn, opts *AcceptOptions) error {
	hr := benchHeadPool.Get().(*HeadReader)
	hr.Reset(nc, 16<<10)
	req, err := hr.ReadRequest()
	hr.Reset(nil, 0)
	benchHeadPool.Put(hr)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 16)
	_, err = Upgrade(nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, opts.WriteBufferSize)), req, opts)
	return err
}
