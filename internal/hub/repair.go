package hub

import (
	"context"
	"sync"
	"time"
)

// When the cluster state fails (docs/architecture.md, "When the cluster
// state fails"), an operation that can be refused is refused with a
// retryable error and leaves nothing behind (a subscribe). One that cannot
// be refused (a leave, a sign-out: the socket is gone whatever the state
// says) is done locally at once and queued here, to be recorded in the
// state when it answers again; what the change decides (channel_vacated,
// member_removed, the watchlist's offline) is raised then. Without this a
// networked state would keep ghosts of every socket that left during an
// outage: members nobody can remove, channels that never vacate.
//
// The queue is one FIFO retried head first, so changes of one socket are
// recorded in the order they happened; a failure is usually the whole
// state being down, so waiting behind the head costs nothing.
type repairs struct {
	n       *Node
	mu      sync.Mutex
	queue   []*queued
	running bool
	dropped uint64
}

// queued is one entry; a pointer, so the loop can tell its head from a
// new one after the queue was cut.
type queued struct{ r repair }

// repair is one state change to record again.
type repair interface {
	// retry records the change and raises what it decides.
	retry(n *Node) error
}

// repairsMax bounds the queue: a state that stays down through more leaves
// than this loses the oldest (counted); the state's own expiry of a dead
// node's keys is the backstop for those.
const repairsMax = 100000

var (
	repairFirstWait = 100 * time.Millisecond
	repairMaxWait   = 5 * time.Second
)

func (r *repairs) init(n *Node) { r.n = n }

// add queues a change and starts the retry loop if it is idle.
func (r *repairs) add(x repair) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) >= repairsMax {
		r.queue = r.queue[1:]
		r.dropped++
	}
	r.queue = append(r.queue, &queued{x})
	if !r.running {
		r.running = true
		go r.loop()
	}
}

// pending is the number of changes waiting.
func (r *repairs) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

func (r *repairs) loop() {
	wait := repairFirstWait
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		head := r.queue[0]
		r.mu.Unlock()
		if err := head.r.retry(r.n); err != nil {
			r.n.metrics.stateErrors.Add(1)
			time.Sleep(wait)
			wait = min(wait*2, repairMaxWait)
			continue
		}
		wait = repairFirstWait
		r.mu.Lock()
		if len(r.queue) > 0 && r.queue[0] == head {
			r.queue[0] = nil
			r.queue = r.queue[1:]
		}
		r.mu.Unlock()
	}
}

func (lv leaving) retry(n *Node) error {
	left, err := n.state.Leave(context.Background(), lv.app, lv.ch.Name, lv.socketID, lv.userID)
	if err != nil {
		return err
	}
	n.left(lv, left)
	if lv.userID != "" {
		// Peer pairs derived from the membership are re-derived by the
		// channel's peer-enabled sockets; a no-op when nothing changed.
		n.publishPeerSync(lv.app, lv.ch.Name)
	}
	return nil
}

// signedOut is a sign-out the state did not record.
type signedOut struct{ app, userID, socketID string }

func (so signedOut) retry(n *Node) error {
	last, err := n.state.UserOffline(context.Background(), so.app, so.userID, so.socketID)
	if err != nil {
		return err
	}
	if app := n.apps.ByID(so.app); last && app != nil && app.Watchlist {
		n.publishUserPresence(so.app, so.userID, false)
	}
	return nil
}

// signedIn is a sign-in the state did not record. It is recorded only
// while the socket is still signed in, under its Conn.mu, so it cannot
// land after the socket's sign-out and leave a ghost online.
type signedIn struct{ c *Conn }

func (si signedIn) retry(n *Node) error {
	c := si.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.userID == "" {
		return nil
	}
	app := c.settings()
	first, err := n.state.UserOnline(context.Background(), app.ID, c.userID, c.socketID)
	if err != nil {
		return err
	}
	if first && app.Watchlist {
		n.publishUserPresence(app.ID, c.userID, true)
	}
	return nil
}
