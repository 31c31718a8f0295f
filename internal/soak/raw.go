package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// rawConn is a WebSocket client connection without any protocol logic, so
// the soak test controls exactly what goes on the wire and when it reads:
// slow readers stop reading, malformed clients send broken frames.
type rawConn struct {
	nc net.Conn
	r  *bufio.Reader
}

// frame is one message or control frame read from the server.
type frame struct {
	op      ws.OpCode
	payload []byte
}

// closeCode returns the code of a close frame (1005 when it has none).
func (f frame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	code, _ := ws.ParseCloseFrameData(f.payload)
	return int(code)
}

// pusherFrame is a server frame decoded once; data is the string form.
type pusherFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// dataString returns data as the string the server sent (it double-encodes
// event data), or its raw JSON when it is an object.
func (p *pusherFrame) dataString() string {
	var s string
	if json.Unmarshal(p.Data, &s) == nil {
		return s
	}
	return string(p.Data)
}

// rawDial upgrades a TCP connection to url. rcvbuf > 0 sets SO_RCVBUF
// before the TCP handshake, so the advertised window stays small and the
// server's writes back up into its own queue (the slow-reader case).
func rawDial(ctx context.Context, url string, rcvbuf int, timeout time.Duration) (*rawConn, error) {
	nd := net.Dialer{Timeout: timeout}
	if rcvbuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	d := ws.Dialer{Timeout: timeout, NetDial: nd.DialContext, ReadBufferSize: 4096}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if br == nil {
		// A small bufio buffer: a slow reader must not drain the socket
		// into a large user-space buffer when it reads one frame.
		br = bufio.NewReaderSize(nc, 4096)
	}
	return &rawConn{nc: nc, r: br}, nil
}

// next reads one frame (fragments are not reassembled: the server never
// fragments) before the deadline.
func (c *rawConn) next(deadline time.Time) (frame, error) {
	_ = c.nc.SetReadDeadline(deadline)
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return frame{}, err
	}
	if h.Length > 1<<20 {
		return frame{}, fmt.Errorf("frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return frame{}, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return frame{op: h.OpCode, payload: p}, nil
}

// nextPusher reads until a text frame and decodes it; a close frame is
// returned as *closeErr.
func (c *rawConn) nextPusher(deadline time.Time) (*pusherFrame, error) {
	for {
		f, err := c.next(deadline)
		if err != nil {
			return nil, err
		}
		switch f.op {
		case ws.OpClose:
			return nil, &closeErr{code: f.closeCode()}
		case ws.OpText:
			var p pusherFrame
			if err := json.Unmarshal(f.payload, &p); err != nil {
				return nil, fmt.Errorf("undecodable frame %.100q: %w", f.payload, err)
			}
			return &p, nil
		case ws.OpPing:
			_ = c.write(maskedFrame(ws.OpPong, true, 0, f.payload, ws.NewMask()))
		}
	}
}

// expectEvent reads frames until one with the event name arrives.
func (c *rawConn) expectEvent(event string, deadline time.Time) (*pusherFrame, error) {
	for {
		p, err := c.nextPusher(deadline)
		if err != nil {
			return nil, err
		}
		if p.Event == event {
			return p, nil
		}
	}
}

func (c *rawConn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// closeClean sends a normal close frame and closes the socket.
func (c *rawConn) closeClean() {
	_ = c.write(maskedFrame(ws.OpClose, true, 0, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), ws.NewMask()))
	_ = c.nc.Close()
}

// closeErr is a close frame received from the server.
type closeErr struct{ code int }

func (e *closeErr) Error() string { return fmt.Sprintf("close %d", e.code) }

func asClose(err error) (int, bool) {
	var ce *closeErr
	if errors.As(err, &ce) {
		return ce.code, true
	}
	return 0, false
}

// statusCode returns the HTTP status of a refused upgrade, 0 otherwise.
func statusCode(err error) int {
	var se ws.StatusError
	if errors.As(err, &se) {
		return int(se)
	}
	return 0
}

// maskedFrame encodes one client frame: rsv is the three reserved bits
// (ws.Rsv), mask the masking key applied to a copy of p.
func maskedFrame(op ws.OpCode, fin bool, rsv byte, p []byte, mask [4]byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f.Header.Rsv = rsv
	f = ws.MaskFrameInPlaceWith(f, mask)
	return encodeFrame(f)
}

// unmaskedFrame encodes a frame as a server would: a protocol error when a
// client sends it.
func unmaskedFrame(op ws.OpCode, p []byte) []byte {
	return encodeFrame(ws.NewFrame(op, true, p))
}

func encodeFrame(f ws.Frame) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, f) // a bytes.Buffer does not fail
	return b.Bytes()
}
