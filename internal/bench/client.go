package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/protocol"
)

// A lean Pusher protocol client: one goroutine per connection reads frames
// into a reused buffer; messages are classified by scanning bytes, never by
// decoding JSON.

const (
	readBufferSize = 2048
	maxMessage     = 1 << 20 // larger inbound messages end the connection
)

// Dialer opens WebSocket connections to <ws>/app/<key>, spreading them over
// loopback source addresses.
type Dialer struct {
	URL     string
	Sources []net.IP
	Timeout time.Duration // TCP connect + upgrade + connection_established
	next    atomic.Uint64
	wsd     ws.Dialer
}

// NewDialer builds a dialer for the app key at the WebSocket base URL.
func NewDialer(wsBase, key string, sources []net.IP, timeout time.Duration) *Dialer {
	d := &Dialer{
		URL:     wsBase + "/app/" + key + "?protocol=7&client=bench&version=1",
		Sources: sources,
		Timeout: timeout,
	}
	d.wsd = ws.Dialer{
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: readBufferSize,
		Timeout:         timeout,
		NetDial:         d.netDial,
	}
	return d
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): with it a
// socket bound to a source address gets its port at connect time, chosen
// per 4-tuple, instead of reserving one from the address's whole range.
const ipBindAddressNoPort = 24

func (d *Dialer) netDial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout}
	if n := len(d.Sources); n > 0 {
		ip := d.Sources[(d.next.Add(1)-1)%uint64(n)]
		nd.LocalAddr = &net.TCPAddr{IP: ip}
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
		}
	}
	return nd.DialContext(ctx, network, addr)
}

// Conn is one client connection. Next must be called from one goroutine;
// Send may be called from any.
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader
	hdr      [ws.MaxHeaderSize]byte
	ctl      [125]byte
	msg      []byte
	SocketID string

	wmu  sync.Mutex
	wbuf []byte
}

// CloseError is a close frame received from the server.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("closed by server: %d %s", e.Code, e.Reason) }

// Dial connects, upgrades and waits for pusher:connection_established.
func (d *Dialer) Dial(ctx context.Context) (*Conn, error) {
	nc, br, _, err := d.wsd.Dial(ctx, d.URL)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, r: br}
	if c.r == nil {
		c.r = bufio.NewReaderSize(nc, readBufferSize)
	}
	if d.Timeout > 0 {
		_ = nc.SetReadDeadline(time.Now().Add(d.Timeout))
	}
	msg, err := c.Next()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("waiting for connection_established: %w", err)
	}
	if !bytes.Equal(EventName(msg), []byte("pusher:connection_established")) {
		nc.Close()
		return nil, fmt.Errorf("first frame is not connection_established: %.200s", msg)
	}
	id := scanString(msg, "socket_id")
	if id == nil {
		nc.Close()
		return nil, fmt.Errorf("no socket_id in %.200s", msg)
	}
	c.SocketID = string(id)
	_ = nc.SetReadDeadline(time.Time{})
	return c, nil
}

var errTooBig = errors.New("inbound message over 1 MiB")

// Next returns the next text or binary message; the slice is valid until the
// next call. WebSocket pings are answered here; a close frame is answered and
// returned as *CloseError.
func (c *Conn) Next() ([]byte, error) {
	c.msg = c.msg[:0]
	for {
		h, err := ws.ReadHeaderBuffer(c.r, c.hdr[:])
		if err != nil {
			return nil, err
		}
		var p []byte
		if h.OpCode.IsControl() {
			if h.Length > int64(len(c.ctl)) {
				return nil, errors.New("control frame over 125 bytes")
			}
			p = c.ctl[:h.Length]
		} else {
			if h.Length > maxMessage || int64(len(c.msg))+h.Length > maxMessage {
				return nil, errTooBig
			}
			start := len(c.msg)
			c.msg = slices.Grow(c.msg, int(h.Length))[:start+int(h.Length)]
			p = c.msg[start:]
		}
		if _, err := io.ReadFull(c.r, p); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			if err := c.writeFrame(ws.OpPong, p); err != nil {
				return nil, err
			}
		case ws.OpPong:
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			_ = c.writeFrame(ws.OpClose, p)
			return nil, &CloseError{Code: int(code), Reason: reason}
		default:
			if h.Fin {
				return c.msg, nil
			}
		}
	}
}

// Send writes one text message.
func (c *Conn) Send(p []byte) error { return c.writeFrame(ws.OpText, p) }

func (c *Conn) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: ws.NewMask()}
	n := ws.HeaderSize(h)
	b := slices.Grow(c.wbuf[:0], n+len(p))[:n+len(p)]
	hb := bytes.NewBuffer(b[:0])
	if err := ws.WriteHeader(hb, h); err != nil {
		return err
	}
	copy(b[n:], p)
	ws.Cipher(b[n:], h.Mask, 0)
	c.wbuf = b
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

var pongMsg = []byte(`{"event":"pusher:pong","data":{}}`)

// Pong answers a pusher:ping.
func (c *Conn) Pong() error { return c.Send(pongMsg) }

// Subscribe sends pusher:subscribe; auth and channelData may be empty.
func (c *Conn) Subscribe(channel, auth, channelData string) error {
	b := make([]byte, 0, 64+len(channel)+len(auth)+len(channelData)*2)
	b = append(b, `{"event":"pusher:subscribe","data":{"channel":`...)
	b = protocol.AppendString(b, channel)
	b = append(b, `,"auth":`...)
	b = protocol.AppendString(b, auth)
	if channelData != "" {
		b = append(b, `,"channel_data":`...)
		b = protocol.AppendString(b, channelData)
	}
	b = append(b, "}}"...)
	return c.Send(b)
}

// Unsubscribe sends pusher:unsubscribe.
func (c *Conn) Unsubscribe(channel string) error {
	b := append([]byte(`{"event":"pusher:unsubscribe","data":{"channel":`), protocol.AppendString(nil, channel)...)
	return c.Send(append(b, "}}"...))
}

// Close sends a normal close frame and closes the socket.
func (c *Conn) Close() error {
	_ = c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	return c.nc.Close()
}

// Abort closes the socket without a close handshake (unblocks Next).
func (c *Conn) Abort() error { return c.nc.Close() }

// --- byte scanning -------------------------------------------------------

// EventName returns the value of the top-level "event" member of a server
// frame without decoding it (event names need no escapes in practice).
func EventName(msg []byte) []byte {
	return scanString(msg, "event")
}

// scanString finds the first `"key"` (possibly with escaped quotes, as inside
// a double-encoded data string) and returns the string value after it, up to
// the next quote or backslash.
func scanString(msg []byte, key string) []byte {
	i := indexKey(msg, key)
	if i < 0 {
		return nil
	}
	rest := msg[i:]
	// skip  \":\"  or  ":"  or  " : "
	j := 0
	for j < len(rest) && (rest[j] == '\\' || rest[j] == '"' || rest[j] == ':' || rest[j] == ' ') {
		j++
	}
	rest = rest[j:]
	end := bytes.IndexAny(rest, "\"\\")
	if end < 0 {
		return nil
	}
	return rest[:end]
}

// scanInt finds key and parses the first run of decimal digits after it.
func scanInt(msg []byte, key string) (int64, bool) {
	i := indexKey(msg, key)
	if i < 0 {
		return 0, false
	}
	rest := msg[i:]
	j := 0
	for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
		if j > 8 {
			return 0, false
		}
		j++
	}
	var v int64
	n := 0
	for ; j < len(rest) && rest[j] >= '0' && rest[j] <= '9'; j++ {
		v = v*10 + int64(rest[j]-'0')
		n++
	}
	return v, n > 0
}

// indexKey returns the index just past key when it appears as a member name
// (followed by a quote or an escaped quote), or -1.
func indexKey(msg []byte, key string) int {
	off := 0
	for {
		i := bytes.Index(msg[off:], []byte(key))
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(key)
		if i > 0 && (msg[i-1] == '"') && end < len(msg) && (msg[end] == '"' || msg[end] == '\\') {
			return end
		}
		off = end
	}
}
