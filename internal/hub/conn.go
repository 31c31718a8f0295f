package hub

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
)

// Conn is one WebSocket client. Its reader goroutine runs the protocol; the
// outgoing side is the queue in writer.go.
type Conn struct {
	node     *Node
	app      *apps.App
	socketID string
	nc       net.Conn
	br       *bufio.Reader

	// Outgoing queue, guarded by wmu (a leaf lock).
	wmu          sync.Mutex
	pending      [][]byte
	pendingBytes int
	writing      bool // a flush goroutine is running
	closing      bool // a close frame is queued; nothing more is sent
	dead         bool // the socket is closed
	closeCode    int

	lastActivity atomic.Int64 // unix nanos of the last inbound frame
	timer        *time.Timer
	timerMu      sync.Mutex // serialises onTimer; guards the two fields below
	pingSentAt   int64
	jitterDone   bool
	authTimer    *time.Timer

	// Protocol state, guarded by mu.
	mu        sync.Mutex
	subs      map[string]*chanSub
	userID    string
	userInfo  []byte // signed user_data.user_info, {} when absent
	watchlist []string
	authed    bool // signed in or holds an authorised channel (user auth timeout)

	// Client-event token bucket; only the reader goroutine touches it.
	tokens   float64
	tokensAt time.Time
}

// chanSub is one channel the connection holds.
type chanSub struct {
	ch     protocol.Channel
	sub    *Subscription
	member *memberRef // presence channels only
}

type memberRef struct {
	userID string
	rawID  []byte
}

// SocketID returns the connection's socket id.
func (c *Conn) SocketID() string { return c.socketID }

// readLoop reads messages until the socket fails or closes, then tears down.
func (c *Conn) readLoop() {
	defer c.teardown()
	var msg []byte // reassembly buffer for fragmented messages
	var msgOp ws.OpCode
	max := c.node.opts.MaxMessageBytes
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return
		}
		c.touch()
		if h.Rsv != 0 || !h.Masked {
			c.closeWith(1002, "protocol error")
			c.drain()
			return
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				c.closeWith(1002, "protocol error")
				c.drain()
				return
			}
			payload := make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return
			}
			ws.Cipher(payload, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				c.sendControl(opPong, payload)
			case ws.OpClose:
				code := 1000
				if len(payload) >= 2 {
					code = int(binary.BigEndian.Uint16(payload))
				}
				c.closeWith(code, "")
				return
			}
			continue
		}
		// Data frame: a new message or a continuation.
		if h.OpCode == ws.OpContinuation {
			if msgOp == 0 {
				c.closeWith(1002, "unexpected continuation frame")
				c.drain()
				return
			}
		} else {
			if msgOp != 0 {
				c.closeWith(1002, "expected continuation frame")
				c.drain()
				return
			}
			msgOp = h.OpCode
			msg = msg[:0]
		}
		if int64(len(msg))+h.Length > int64(max) {
			c.closeWith(protocol.CloseMessageTooBig, "message too big")
			c.drain()
			return
		}
		start := len(msg)
		msg = append(msg, make([]byte, h.Length)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return
		}
		ws.Cipher(msg[start:], h.Mask, 0)
		if !h.Fin {
			continue
		}
		op := msgOp
		msgOp = 0
		if op != ws.OpText {
			c.closeWith(protocol.CloseUnsupportedData, "binary messages are not supported")
			c.drain()
			return
		}
		c.node.metrics.framesIn.Add(1)
		c.node.handleMessage(c, msg)
		if cap(msg) > 4096 {
			msg = nil // do not pin a large buffer on an idle connection
		}
	}
}

// drain reads and discards input until the close grace deadline ends the
// read, so the peer sees our close frame instead of a reset.
func (c *Conn) drain() {
	io.Copy(io.Discard, c.br)
}

// sendControl queues a control frame (pong) outside the byte budget logic.
func (c *Conn) sendControl(op byte, payload []byte) {
	c.send(controlFrame(op, payload))
}

func (c *Conn) touch() { c.lastActivity.Store(time.Now().UnixNano()) }

// teardown runs once, on the reader goroutine, when the connection ends.
func (c *Conn) teardown() {
	c.timer.Stop()
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	c.node.leaveAll(c)
	c.wmu.Lock()
	c.closing, c.dead = true, true
	writing := c.writing
	c.wmu.Unlock()
	if !writing {
		c.nc.Close()
	} // else the writer finishes what is queued (often our close frame), bounded by WriteTimeout, and closes
	c.node.connClosed(c)
}
