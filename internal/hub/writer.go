package hub

import (
	"net"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

// send queues one complete WebSocket frame. It never blocks on I/O: a flush
// goroutine is started only while there is something to write, so an idle
// connection has no writer goroutine. A connection whose queue passes its
// byte budget is a slow consumer: its queue is dropped and it is closed with
// 4100 (reconnect after back-off) instead of blocking the publisher.
func (c *Conn) send(frame []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return false
	}
	if c.pendingBytes+len(frame) > c.node.opts.QueueBudget {
		c.node.metrics.slowConsumers.Add(1)
		c.pending, c.pendingBytes = nil, 0
		c.queueCloseLocked(protocol.CodeOverCapacity, "Slow consumer: outbound queue over its byte budget")
		return false
	}
	c.pending = append(c.pending, frame)
	c.pendingBytes += len(frame)
	c.kickLocked()
	return true
}

// closeWith sends pusher:error (for 4xxx codes) and a close frame with code,
// then ends the connection once they are written. Later sends are dropped.
func (c *Conn) closeWith(code int, message string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return
	}
	c.queueCloseLocked(code, message)
}

func (c *Conn) queueCloseLocked(code int, message string) {
	if code >= 4000 {
		f := TextFrame(protocol.EncodeError(code, message))
		c.pending = append(c.pending, f)
		c.pendingBytes += len(f)
	}
	c.pending = append(c.pending, closeFrame(code, message))
	c.closing = true
	c.closeCode = code
	c.kickLocked()
}

func (c *Conn) kickLocked() {
	if !c.writing {
		c.writing = true
		go c.flush()
	}
}

// flush writes everything pending in one writev per round (net.Buffers), so
// a burst of frames costs one syscall, until the queue is empty.
func (c *Conn) flush() {
	var batch net.Buffers
	for {
		c.wmu.Lock()
		if len(c.pending) == 0 {
			c.writing = false
			closing, dead := c.closing, c.dead
			c.wmu.Unlock()
			switch {
			case dead:
				// The reader has torn down and left the socket to us.
				c.nc.Close()
			case closing:
				c.closeSent()
			}
			return
		}
		batch = append(batch[:0], c.pending...)
		clear(c.pending)
		c.pending = c.pending[:0]
		n := c.pendingBytes
		c.pendingBytes = 0
		c.wmu.Unlock()

		c.nc.SetWriteDeadline(time.Now().Add(c.node.opts.WriteTimeout))
		var err error
		if len(batch) == 1 {
			// A plain write: writev would make the runtime keep an iovec
			// array per socket for the connection's lifetime.
			_, err = c.nc.Write(batch[0])
		} else {
			bufs := batch // WriteTo consumes its receiver
			_, err = bufs.WriteTo(c.nc)
		}
		if err != nil {
			c.wmu.Lock()
			c.dead, c.writing, c.closing = true, false, true
			c.pending, c.pendingBytes = nil, 0
			c.wmu.Unlock()
			c.nc.Close() // unblocks the reader, which tears down
			return
		}
		c.node.metrics.bytesOut.Add(uint64(n))
		c.node.metrics.framesOut.Add(uint64(len(batch)))
		clear(batch)
	}
}

// closeGrace is how long a closing connection waits for the peer's close frame.
const closeGrace = 2 * time.Second
