package hub

import (
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	in       inbound // receive state: partial frame and message bytes

	// Exactly one of the two read paths runs: poll mode (plain TCP on
	// Linux: no goroutine while idle) or a reader goroutine (TLS, others).
	pollID   uint64
	raw      syscall.RawConn
	torndown atomic.Bool

	// Outgoing queue, guarded by wmu (a leaf lock).
	wmu          sync.Mutex
	pending      [][]byte
	pendingBytes int
	writing      bool // a flush goroutine is running
	closing      bool // a close frame is queued; nothing more is sent
	dead         bool // the socket is closed
	closeCode    int
	closeReason  string // ours; "" when echoing the peer's close
	openedAt     int64  // unix nanos, for the close log line

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
	authed    bool     // signed in or holds an authorised channel (user auth timeout)
	gone      bool     // torn down: late handlers must not add state
	ext       *connExt // personal channels and queued peer changes; nil until used

	// Client-event token bucket; only the reader goroutine touches it.
	tokens   float64
	tokensAt time.Time
}

// chanSub is one channel the connection holds, for the reasons in src
// (docs/features.md §1): one hub subscription however many sources.
type chanSub struct {
	ch     protocol.Channel
	sub    *subscription
	member *memberRef // presence channels; on peer channels the sender identity of client events
	src    sources
}

type memberRef struct {
	userID string
	rawID  []byte
	peer   bool                       // presence: this socket opted in to peer channels
	pairs  map[string]json.RawMessage // presence: announced peer channel → partner's raw id
}

// SocketID returns the connection's socket id.
func (c *Conn) SocketID() string { return c.socketID }

func (c *Conn) touch() { c.lastActivity.Store(time.Now().UnixNano()) }

// teardown runs once when the connection ends, from whichever path saw
// the end first (reader, poller, close-grace timer).
func (c *Conn) teardown() {
	if !c.torndown.CompareAndSwap(false, true) {
		return
	}
	if c.pollID != 0 {
		c.node.poll.remove(c)
	}
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

// settings returns the app as the registry holds it now, so a rotated
// secret or a changed setting reaches connected sockets too (docs/features.md
// §2.3); c.app is kept for the identity the socket connected with.
func (c *Conn) settings() *apps.App {
	if a := c.node.apps.ByID(c.app.ID); a != nil {
		return a
	}
	return c.app
}
