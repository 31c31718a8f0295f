package hub

import (
	"net"
	"runtime"
	"syscall"
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
		f := textFrame(protocol.EncodeError(code, message))
		c.pending = append(c.pending, f)
		c.pendingBytes += len(f)
	}
	c.pending = append(c.pending, closeFrame(code, message))
	c.closing = true
	c.closeCode, c.closeReason = code, message
	c.kickLocked()
}

func (c *Conn) kickLocked() {
	if !c.writing {
		c.writing = true
		c.node.writers.schedule(c)
	}
}

// nextBatch moves everything pending into batch. With nothing pending it
// ends the flush round (and finishes a close) and returns false.
func (c *Conn) nextBatch(batch [][]byte) ([][]byte, bool) {
	c.wmu.Lock()
	if len(c.pending) == 0 {
		c.writing = false
		closeNow, closeSent := c.dead, c.closing && !c.dead
		c.wmu.Unlock()
		switch {
		case closeNow:
			c.nc.Close() // the reader has torn down and left the socket to us
		case closeSent:
			c.closeSent()
		}
		return batch, false
	}
	batch = append(batch[:0], c.pending...)
	clear(c.pending)
	c.pending = c.pending[:0]
	c.pendingBytes = 0
	c.wmu.Unlock()
	return batch, true
}

// writeFailed drops a connection whose socket write failed or stalled.
func (c *Conn) writeFailed() {
	c.wmu.Lock()
	c.dead, c.writing, c.closing = true, false, true
	c.pending, c.pendingBytes = nil, 0
	c.wmu.Unlock()
	if c.pollID != 0 {
		c.teardown() // no reader goroutine will notice the closed socket
		return
	}
	c.nc.Close() // unblocks the reader, which tears down
}

// flush is the blocking write path: it writes everything pending in one
// writev per round (net.Buffers), under a write deadline, until the queue
// is empty. It serves TLS connections and sockets whose buffer is full.
func (c *Conn) flush() {
	var batch net.Buffers
	for {
		var ok bool
		if batch, ok = c.nextBatch(batch); !ok {
			return
		}

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
			c.writeFailed()
			return
		}
		c.countOut(batch)
		clear(batch)
	}
}

func (c *Conn) countOut(batch [][]byte) {
	c.node.metrics.bytesOut.Add(uint64(batchBytes(batch)))
	c.node.metrics.framesOut.Add(uint64(len(batch)))
}

func batchBytes(batch [][]byte) int {
	n := 0
	for _, b := range batch {
		n += len(b)
	}
	return n
}

// closeGrace is how long a closing connection waits for the peer's close frame.
const closeGrace = 2 * time.Second

// writerPool flushes plain-TCP connections from a few long-lived
// goroutines with non-blocking writes: no goroutine is started per
// delivery and no write deadline is armed per flush. A socket whose kernel
// buffer is full, and every TLS connection, is handed to its own blocking
// flush goroutine instead, so one slow peer never stalls a worker.
type writerPool struct {
	queue chan *Conn
	done  chan struct{}
}

func newWriterPool() *writerPool {
	p := &writerPool{queue: make(chan *Conn, 1<<16), done: make(chan struct{})}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go p.run()
	}
	return p
}

// schedule never blocks: with the queue full, the connection gets its own
// flush goroutine.
func (p *writerPool) schedule(c *Conn) {
	if c.raw == nil {
		go c.flush()
		return
	}
	select {
	case p.queue <- c:
	default:
		go c.flush()
	}
}

func (p *writerPool) run() {
	var batch [][]byte
	var iov []syscall.Iovec
	for {
		select {
		case c := <-p.queue:
			batch, iov = c.flushNonBlocking(batch, iov)
		case <-p.done:
			return
		}
	}
}

// stop ends the workers; a later schedule still works, on a flush goroutine
// per connection, because the queue is never closed.
func (p *writerPool) stop() { close(p.done) }
