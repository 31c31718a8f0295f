package hub

import (
	"encoding/binary"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/protocol"
)

// inbound is a connection's receive state between reads. Both fields are
// nil on an idle connection: bytes are only kept while a frame or a
// fragmented message is incomplete.
type inbound struct {
	partial []byte // start of an incomplete frame
	msg     []byte // fragments of an incomplete message
	msgOp   byte   // opcode of that message, 0 when none
	discard bool   // after a protocol error: ignore all input until the end
}

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     byte
	masked bool
	mask   [4]byte
	length int64
}

// parseFrameHeader returns the header at the start of b and its size, or
// size 0 when b does not hold a whole header yet.
func parseFrameHeader(b []byte) (h frameHeader, size int) {
	if len(b) < 2 {
		return h, 0
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = (b[0] >> 4) & 0x7
	h.op = b[0] & 0x0f
	h.masked = b[1]&0x80 != 0
	size = 2
	switch n := b[1] & 0x7f; n {
	case 126:
		if len(b) < 4 {
			return h, 0
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		size = 4
	case 127:
		if len(b) < 10 {
			return h, 0
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v > 1<<62 {
			v = 1 << 62 // absurd lengths are refused by the size check
		}
		h.length = int64(v)
		size = 10
	default:
		h.length = int64(n)
	}
	if h.masked {
		if len(b) < size+4 {
			return h, 0
		}
		copy(h.mask[:], b[size:size+4])
		size += 4
	}
	return h, size
}

// consume processes bytes read from the socket. It returns false when the
// connection must end now (the peer closed, or answered our close).
func (c *Conn) consume(data []byte) bool {
	in := &c.in
	if in.discard {
		return true
	}
	c.touch()
	buf := data
	if len(in.partial) > 0 {
		in.partial = append(in.partial, data...)
		buf = in.partial
	}
	max := int64(c.node.opts.MaxMessageBytes)
	for len(buf) > 0 {
		h, size := parseFrameHeader(buf)
		if size == 0 {
			break
		}
		if ctl := h.op >= 0x8; (ctl && h.length > 125) || (!ctl && int64(len(in.msg))+h.length > max) {
			if ctl {
				c.protocolClose(protocol.CloseProtocolError, "control frame too long")
			} else {
				c.protocolClose(protocol.CloseMessageTooBig, "message too big")
			}
			in.partial = nil
			return true
		}
		if int64(len(buf)-size) < h.length {
			break
		}
		payload := buf[size : size+int(h.length)]
		buf = buf[size+int(h.length):]
		if !c.frame(&h, payload) {
			return false
		}
		if in.discard {
			in.partial = nil
			return true
		}
	}
	switch {
	case len(buf) == 0:
		in.partial = nil
	case len(in.partial) > 0: // buf is the tail of partial: move it to the front
		n := copy(in.partial, buf)
		in.partial = in.partial[:n]
	default:
		in.partial = append([]byte(nil), buf...)
	}
	return true
}

// protocolClose closes for a framing violation; the rest of the input is
// ignored until the peer goes or the close grace ends.
func (c *Conn) protocolClose(code int, reason string) {
	c.in.discard = true
	c.in.msg = nil
	c.closeWith(code, reason)
}

// frame handles one complete frame; false ends the connection.
func (c *Conn) frame(h *frameHeader, payload []byte) bool {
	in := &c.in
	if h.rsv != 0 || !h.masked {
		c.protocolClose(protocol.CloseProtocolError, "protocol error")
		return true
	}
	ws.Cipher(payload, h.mask, 0)
	if h.op >= 0x8 {
		if !h.fin {
			c.protocolClose(protocol.CloseProtocolError, "fragmented control frame")
			return true
		}
		switch h.op {
		case opPing:
			c.send(controlFrame(opPong, payload))
		case opClose:
			code := 1000
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			c.closeWith(code, "") // echoes the peer's close unless ours is out
			return false
		case opPong: // unsolicited or late: nothing to do
		default: // 0xB-0xF are reserved (RFC 6455 §5.2)
			c.protocolClose(protocol.CloseProtocolError, "reserved opcode")
		}
		return true
	}
	if h.op > opBinary { // 0x3-0x7 are reserved (RFC 6455 §5.2)
		c.protocolClose(protocol.CloseProtocolError, "reserved opcode")
		return true
	}
	if h.op == 0 { // continuation
		if in.msgOp == 0 {
			c.protocolClose(protocol.CloseProtocolError, "unexpected continuation frame")
			return true
		}
	} else {
		if in.msgOp != 0 {
			c.protocolClose(protocol.CloseProtocolError, "expected continuation frame")
			return true
		}
		if h.fin { // the common case: a whole message in one frame, no copy
			return c.message(h.op, payload)
		}
		in.msgOp = h.op
	}
	in.msg = append(in.msg, payload...)
	if !h.fin {
		return true
	}
	op, msg := in.msgOp, in.msg
	in.msgOp, in.msg = 0, nil
	return c.message(op, msg)
}

// message handles one complete data message.
func (c *Conn) message(op byte, msg []byte) bool {
	if op != opText {
		c.protocolClose(protocol.CloseUnsupportedData, "binary messages are not supported")
		return true
	}
	if c.isClosing() {
		return true // our close is out: only the peer's close matters now
	}
	c.node.metrics.framesIn.Add(1)
	c.node.handleMessage(c, msg)
	return true
}

func (c *Conn) isClosing() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closing
}

// readLoop is the goroutine read path (TLS, or no poller on this OS).
func (c *Conn) readLoop(pending []byte) {
	defer c.teardown()
	if len(pending) > 0 && !c.consume(pending) {
		return
	}
	buf := make([]byte, readBufferSize)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 && !c.consume(buf[:n]) {
			return
		}
		if err != nil {
			return
		}
	}
}

// closeSent runs when our close frame has been written: the peer gets
// closeGrace to answer before the connection is torn down regardless.
func (c *Conn) closeSent() {
	if c.pollID != 0 {
		time.AfterFunc(closeGrace, c.teardown)
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(closeGrace))
}
