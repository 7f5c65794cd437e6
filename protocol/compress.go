package protocol

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// CompressionMode selects how permessage-deflate (RFC 7692) is used.
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts permessage-deflate.
	CompressionDisabled CompressionMode = iota
	// CompressionNoContextTakeover compresses every message on its own and
	// asks the peer to do the same (both *_no_context_takeover parameters).
	// An idle connection then holds no compression state at all: flate
	// readers and writers are borrowed from pools for one message. This is
	// the mode for servers with many connections.
	CompressionNoContextTakeover
	// CompressionContextTakeover keeps the LZ77 window across messages in
	// both directions when the peer allows it: better ratios on streams of
	// similar messages, at a cost per connection of the peer's window
	// (up to 32 KiB) for reading and a dedicated flate.Writer for writing
	// (about 1.2 MB at level 1, allocated by the first compressed message).
	// In CompressionNoContextTakeover an idle connection costs 88 bytes.
	CompressionContextTakeover
)

// CompressionOptions configure permessage-deflate. A nil *CompressionOptions
// or Mode CompressionDisabled turns it off.
type CompressionOptions struct {
	Mode CompressionMode
	// Level is the compress/flate level, 1-9; 0 means flate.BestSpeed.
	Level int
	// Threshold is the smallest message compressed; shorter messages are
	// sent as they are (compressing a few bytes only adds bytes).
	// 0 means 128; a negative value compresses everything.
	Threshold int
}

func (o *CompressionOptions) enabled() bool {
	return o != nil && o.Mode != CompressionDisabled
}

// validate checks the options, which a nil pointer passes.
func (o *CompressionOptions) validate() error {
	if o == nil {
		return nil
	}
	if o.Mode < CompressionDisabled || o.Mode > CompressionContextTakeover {
		return fmt.Errorf("compression mode %d is unknown", o.Mode)
	}
	if o.Level != 0 && o.Level != flate.HuffmanOnly && (o.Level < flate.BestSpeed || o.Level > flate.BestCompression) {
		return fmt.Errorf("compression level %d is not 1-9 or flate.HuffmanOnly", o.Level)
	}
	return nil
}

const deflateName = "permessage-deflate"

// deflateParams are the parameters of one permessage-deflate offer or
// response (RFC 7692 §7.1). Window bits of 0 mean absent; clientBits of -1
// means client_max_window_bits without a value (offers only).
type deflateParams struct {
	serverNoContext bool
	clientNoContext bool
	serverBits      int
	clientBits      int
}

// parseDeflateParams validates the parameters of a permessage-deflate
// element. An offer may carry client_max_window_bits without a value; a
// response may not. Unknown, duplicated or malformed parameters are errors
// (§7: the offer is declined, the response fails the connection).
func parseDeflateParams(e Extension, offer bool) (deflateParams, error) {
	var d deflateParams
	seen := map[string]bool{}
	for _, p := range e.Params {
		if seen[p.Name] {
			return d, fmt.Errorf("%s: duplicate parameter %s", deflateName, p.Name)
		}
		seen[p.Name] = true
		switch p.Name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if p.HasValue {
				return d, fmt.Errorf("%s: %s takes no value", deflateName, p.Name)
			}
			if p.Name == "server_no_context_takeover" {
				d.serverNoContext = true
			} else {
				d.clientNoContext = true
			}
		case "server_max_window_bits":
			bits, err := windowBits(p)
			if err != nil {
				return d, err
			}
			d.serverBits = bits
		case "client_max_window_bits":
			if !p.HasValue {
				if !offer {
					return d, fmt.Errorf("%s: client_max_window_bits needs a value in a response", deflateName)
				}
				d.clientBits = -1
				continue
			}
			bits, err := windowBits(p)
			if err != nil {
				return d, err
			}
			d.clientBits = bits
		default:
			return d, fmt.Errorf("%s: unknown parameter %s", deflateName, p.Name)
		}
	}
	return d, nil
}

// windowBits parses a window size: a decimal 8-15 without leading zeros.
func windowBits(p ExtensionParam) (int, error) {
	if !p.HasValue || len(p.Value) == 0 || len(p.Value) > 2 || p.Value[0] == '0' {
		return 0, fmt.Errorf("%s: %s=%q is not 8-15", deflateName, p.Name, p.Value)
	}
	n, err := strconv.Atoi(p.Value)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("%s: %s=%q is not 8-15", deflateName, p.Name, p.Value)
	}
	return n, nil
}

// negotiateDeflate picks the first acceptable permessage-deflate offer and
// returns the response element and the connection's compression state, or
// ok=false when no offer is acceptable.
func negotiateDeflate(offers []Extension, o *CompressionOptions) (resp Extension, st *deflateState, ok bool) {
	for _, offer := range offers {
		if offer.Name != deflateName {
			continue
		}
		d, err := parseDeflateParams(offer, true)
		if err != nil {
			continue // §7: decline this offer, try the next one
		}
		resp = Extension{Name: deflateName}
		// A server may always ask for no context takeover (§7.1.1.1,
		// §7.1.1.2); in that mode it does so in both directions.
		noCtx := o.Mode == CompressionNoContextTakeover
		if d.serverNoContext || noCtx {
			resp.Params = append(resp.Params, ExtensionParam{Name: "server_no_context_takeover"})
		}
		if d.clientNoContext || noCtx {
			resp.Params = append(resp.Params, ExtensionParam{Name: "client_no_context_takeover"})
		}
		writeBits := 15
		if d.serverBits != 0 {
			// §7.1.2.1: answer with the same or a smaller value; the
			// compressor honours it (see deflateState.compress).
			writeBits = d.serverBits
			resp.Params = append(resp.Params, ExtensionParam{Name: "server_max_window_bits", Value: strconv.Itoa(writeBits), HasValue: true})
		}
		readBits := 15
		if d.clientBits > 0 {
			readBits = d.clientBits
		}
		st = newDeflateState(o, writeBits, !(d.serverNoContext || noCtx), !(d.clientNoContext || noCtx), readBits)
		return resp, st, true
	}
	return Extension{}, nil, false
}

// deflateOffer is the client's offer for the options.
func deflateOffer(o *CompressionOptions) Extension {
	e := Extension{Name: deflateName}
	if o.Mode == CompressionNoContextTakeover {
		e.Params = append(e.Params, ExtensionParam{Name: "server_no_context_takeover"}, ExtensionParam{Name: "client_no_context_takeover"})
	}
	e.Params = append(e.Params, ExtensionParam{Name: "client_max_window_bits"})
	return e
}

// acceptDeflateResponse validates the server's answer to deflateOffer and
// returns the client's compression state.
func acceptDeflateResponse(e Extension, o *CompressionOptions) (*deflateState, error) {
	d, err := parseDeflateParams(e, false)
	if err != nil {
		return nil, err
	}
	if d.serverBits != 0 {
		// §7.1.2.1: the offer had no server_max_window_bits.
		return nil, fmt.Errorf("%s: server_max_window_bits was not offered", deflateName)
	}
	if o.Mode == CompressionNoContextTakeover && !d.serverNoContext {
		// §7.1.1.1: accepting the offer means echoing the parameter.
		return nil, fmt.Errorf("%s: server ignored server_no_context_takeover", deflateName)
	}
	writeBits := 15
	if d.clientBits > 0 {
		writeBits = d.clientBits
	}
	noCtx := o.Mode == CompressionNoContextTakeover
	return newDeflateState(o, writeBits, !(d.clientNoContext || noCtx), !d.serverNoContext, 15), nil
}

// deflateState is a connection's negotiated permessage-deflate.
type deflateState struct {
	level     int
	threshold int
	// writeBits is the largest window the peer accepts from us.
	writeBits int
	// writeContext keeps one flate.Writer across messages.
	writeContext bool
	// readContext keeps the last readWindow bytes of inflated output as
	// the dictionary of the next message.
	readContext bool
	readWindow  int

	fw   *flate.Writer // writeContext only, created on first use
	sw   switchWriter  // fw's output
	hist []byte        // readContext only
}

func newDeflateState(o *CompressionOptions, writeBits int, writeContext, readContext bool, readBits int) *deflateState {
	st := &deflateState{
		level:       o.Level,
		threshold:   o.Threshold,
		writeBits:   writeBits,
		readContext: readContext,
		readWindow:  1 << readBits,
	}
	if st.level == 0 {
		st.level = flate.BestSpeed
	}
	if st.threshold == 0 {
		st.threshold = 128
	}
	// Go's compressor always searches a 32 KiB window, so context takeover
	// is only kept when the peer accepts a full window.
	st.writeContext = writeContext && writeBits == 15
	return st
}

// deflateTail ends every flushed deflate stream; RFC 7692 §7.2.1 removes it
// from the wire and §7.2.2 appends it again before inflating.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final stored block appended after the tail, so
// that the inflater ends with io.EOF instead of asking for more input.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

var (
	flateWriterPools [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool
	flateReaderPool  sync.Pool
	byteBufferPool   = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

func getFlateWriter(level int, w io.Writer) *flate.Writer {
	if fw, ok := flateWriterPools[level-flate.HuffmanOnly].Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, err := flate.NewWriter(w, level)
	if err != nil {
		panic(err) // levels are validated when options are read
	}
	return fw
}

func putFlateWriter(level int, fw *flate.Writer) {
	fw.Reset(io.Discard) // drop the reference to the output buffer
	flateWriterPools[level-flate.HuffmanOnly].Put(fw)
}

// compress deflates p into dst with the tail removed, honouring the
// negotiated window.
//
// A window smaller than 32 KiB (server_max_window_bits or
// client_max_window_bits below 15) cannot be set on Go's compress/flate
// writer, which always looks back up to 32 KiB. Two facts keep the output
// correct anyway: a writer fresh from Reset never refers to earlier
// messages, and within a message it cannot refer back further than the
// message's own length. So a message no longer than the window is
// compressed normally by a fresh writer, and a longer one is Huffman-coded
// only (flate.HuffmanOnly emits no back-references at all). Context
// takeover is not used with small windows (a sender may always choose not
// to use it).
func (st *deflateState) compress(dst *bytes.Buffer, p []byte) error {
	if st.writeContext {
		fw := st.streamWriter(dst)
		if _, err := fw.Write(p); err != nil {
			return err
		}
		if err := fw.Flush(); err != nil {
			return err
		}
	} else {
		level := st.level
		if len(p) > 1<<st.writeBits {
			level = flate.HuffmanOnly
		}
		fw := getFlateWriter(level, dst)
		_, werr := fw.Write(p)
		ferr := fw.Flush()
		putFlateWriter(level, fw)
		if err := errors.Join(werr, ferr); err != nil {
			return err
		}
	}
	if !bytes.HasSuffix(dst.Bytes(), deflateTail) {
		return errors.New("permessage-deflate: flushed stream lacks the sync tail")
	}
	dst.Truncate(dst.Len() - len(deflateTail))
	return nil
}

// streamWriter returns the connection's context-takeover compressor,
// writing to w until the next call.
func (st *deflateState) streamWriter(w io.Writer) *flate.Writer {
	st.sw.w = w
	if st.fw == nil {
		fw, err := flate.NewWriter(&st.sw, st.level)
		if err != nil {
			panic(err) // levels are validated when options are read
		}
		st.fw = fw
	}
	return st.fw
}

// switchWriter lets the context-takeover compressor change its output
// without Reset, which would drop the context.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// inflater returns a flate reader over src (the message's compressed
// payload followed by the tail), primed with the history when context
// takeover is in effect.
func (st *deflateState) inflater(src io.Reader) io.ReadCloser {
	var dict []byte
	if st.readContext {
		dict = st.hist
	}
	if fr, ok := flateReaderPool.Get().(io.ReadCloser); ok {
		if err := fr.(flate.Resetter).Reset(src, dict); err == nil {
			return fr
		}
	}
	return flate.NewReaderDict(src, dict)
}

func putInflater(fr io.ReadCloser) {
	flateReaderPool.Put(fr)
}

// remember keeps the tail of an inflated message as the next dictionary.
func (st *deflateState) remember(p []byte) {
	if !st.readContext {
		return
	}
	if len(p) >= st.readWindow {
		st.hist = append(st.hist[:0], p[len(p)-st.readWindow:]...)
		return
	}
	if keep := st.readWindow - len(p); len(st.hist) > keep {
		st.hist = append(st.hist[:0], st.hist[len(st.hist)-keep:]...)
	}
	st.hist = append(st.hist, p...)
}
