package hub

import (
	"math/rand/v2"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

var (
	pingFrame = textFrame([]byte(`{"event":"pusher:ping","data":"{}"}`))
	pongFrame = textFrame([]byte(`{"event":"pusher:pong","data":"{}"}`))
)

// startTimers arms the connection's single activity timer. Its first firing
// is jittered within [T/2, T] so mass reconnects do not ping in lockstep.
func (c *Conn) startTimers() {
	t := c.node.opts.ActivityTimeout
	first := t/2 + time.Duration(rand.Int64N(int64(t/2)+1))
	// onTimer reads c.timer under timerMu; assigning it under the same lock
	// orders the write before the callback's read (go test -race).
	c.timerMu.Lock()
	c.timer = time.AfterFunc(first, c.onTimer)
	c.timerMu.Unlock()
	if c.app.UserAuthenticationRequired {
		c.authTimer = time.AfterFunc(time.Duration(c.app.UserAuthTimeoutS)*time.Second, func() {
			c.mu.Lock()
			ok := c.authed
			c.mu.Unlock()
			if !ok {
				c.closeWith(protocol.CodeUnauthorized, "Connection not authorized within timeout")
			}
		})
	}
}

// onTimer sends pusher:ping after inbound silence and closes with 4201 when
// no inbound frame follows within the pong timeout.
func (c *Conn) onTimer() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	now := time.Now().UnixNano()
	last := c.lastActivity.Load()
	opts := &c.node.opts
	if c.pingSentAt != 0 {
		if last <= c.pingSentAt {
			c.closeWith(protocol.CodePongTimeout, "Pong reply not received")
			return
		}
		c.pingSentAt = 0
		c.timer.Reset(time.Duration(last + int64(opts.ActivityTimeout) - now))
		return
	}
	idle := time.Duration(now - last)
	threshold := opts.ActivityTimeout
	if !c.jitterDone {
		threshold, c.jitterDone = opts.ActivityTimeout/2, true
	}
	if idle < threshold {
		// Recent activity: check again when the timeout would be reached.
		c.timer.Reset(opts.ActivityTimeout - idle)
		return
	}
	c.pingSentAt = now
	c.send(pingFrame)
	c.timer.Reset(opts.PongTimeout)
}
