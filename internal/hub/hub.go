// Package hub is the hot path: WebSocket connections, their outgoing queues
// and writers, and the sharded channel → subscriber index that broadcasts
// walk. It also runs the Pusher protocol on each connection, and pushi's
// extensions of it through the hook points in ext.go.
//
// The lock order, with every lock of the process, is in
// docs/architecture.md ("Lock order"); lockcheck.go enforces its one hard
// rule in tests: no shared lock is held across a call to the cluster
// state, the broker, the durable store or webhooks.
package hub

import (
	"sync"
	"sync/atomic"

	"github.com/pushi-io/pushi/internal/shard"
)

const hubShards = 64

// index holds the local subscriptions by (app, channel), sharded so publishers
// on different channels do not contend.
type index struct {
	pick   shard.Picker
	shards [hubShards]hubShard

	usersMu  sync.RWMutex
	users    map[userKey]map[*Conn]struct{} // signed-in connections
	watchers map[userKey]map[*Conn]struct{} // connections watching a user
}

type hubShard struct {
	mu       sync.RWMutex
	channels map[chanKey]*subscribers
}

type chanKey struct{ app, channel string }

type userKey struct{ app, user string }

type subscribers struct{ list []*subscription }

// subscription is one connection's membership of one channel. Facts the
// broadcast loop needs are copied in at subscribe time so it reads plain
// fields.
type subscription struct {
	conn     *Conn
	socketID string
	idx      int                  // position in subscribers.list, for O(1) removal
	hold     atomic.Pointer[hold] // non-nil from Add until the subscribe's answer is out (hold.go)
	// members is the version of the member snapshot the subscription was
	// answered with: member events up to it are in the snapshot, also
	// when they arrive after the answer (a slow publisher).
	members atomic.Uint64
}

// newIndex returns an empty index.
func newIndex() *index {
	h := &index{pick: shard.NewPicker(), users: map[userKey]map[*Conn]struct{}{}, watchers: map[userKey]map[*Conn]struct{}{}}
	for i := range h.shards {
		h.shards[i].channels = map[chanKey]*subscribers{}
	}
	return h
}

func (h *index) shard(app, channel string) *hubShard {
	return &h.shards[h.pick.Of(app, channel, hubShards)]
}

// The shard lock is taken through these four, which tell lockcheck.go
// when it is held; with the check off that is one atomic load.
func (sh *hubShard) lock()    { sh.mu.Lock(); lockTaken() }
func (sh *hubShard) unlock()  { lockReleased(); sh.mu.Unlock() }
func (sh *hubShard) rlock()   { sh.mu.RLock(); lockTaken() }
func (sh *hubShard) runlock() { lockReleased(); sh.mu.RUnlock() }

// add registers s. A subscription that must not miss or double anything
// around its answer carries a hold (hold.go), set before Add: broadcasts
// from this instant are kept until the answer is queued. first reports
// that s is the channel's first local subscriber.
func (h *index) add(app, channel string, s *subscription) (first bool) {
	sh := h.shard(app, channel)
	k := chanKey{app, channel}
	sh.lock()
	defer sh.unlock()
	subs := sh.channels[k]
	if subs == nil {
		subs = &subscribers{}
		sh.channels[k] = subs
		first = true
	}
	s.idx = len(subs.list)
	subs.list = append(subs.list, s)
	return first
}

// remove unregisters s; last reports that no local subscriber remains.
func (h *index) remove(app, channel string, s *subscription) (last bool) {
	sh := h.shard(app, channel)
	k := chanKey{app, channel}
	sh.lock()
	defer sh.unlock()
	subs := sh.channels[k]
	if subs == nil || s.idx >= len(subs.list) || subs.list[s.idx] != s {
		return false
	}
	end := len(subs.list) - 1
	moved := subs.list[end]
	subs.list[s.idx] = moved
	moved.idx = s.idx
	subs.list[end] = nil
	subs.list = subs.list[:end]
	if end == 0 {
		delete(sh.channels, k)
		return true
	}
	return false
}

// broadcast queues frame (a complete WebSocket frame) on every local
// subscriber of the channel except the socket exclude, and returns how many
// it reached. The same bytes go to every recipient. version is the
// state's version of a presence member event, 0 for anything else: a
// subscriber whose member snapshot already holds the change drops it.
func (h *index) broadcast(app, channel string, frame []byte, exclude string, version uint64) int {
	sh := h.shard(app, channel)
	sh.rlock()
	defer sh.runlock()
	subs := sh.channels[chanKey{app, channel}]
	if subs == nil {
		return 0
	}
	n := 0
	for _, s := range subs.list {
		if exclude != "" && s.socketID == exclude {
			continue
		}
		if version != 0 && version <= s.members.Load() {
			continue // already in the member list this socket was given
		}
		if h := s.hold.Load(); h != nil {
			h.offer(frame, version)
		} else {
			s.conn.send(frame)
		}
		n++
	}
	return n
}

// localCount returns the number of local subscribers of a channel.
func (h *index) localCount(app, channel string) int {
	sh := h.shard(app, channel)
	sh.rlock()
	defer sh.runlock()
	if subs := sh.channels[chanKey{app, channel}]; subs != nil {
		return len(subs.list)
	}
	return 0
}

func addIndex(m map[userKey]map[*Conn]struct{}, k userKey, c *Conn) {
	set := m[k]
	if set == nil {
		set = map[*Conn]struct{}{}
		m[k] = set
	}
	set[c] = struct{}{}
}

func removeIndex(m map[userKey]map[*Conn]struct{}, k userKey, c *Conn) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// setUser indexes c as signed in as user (and watching watchlist),
// replacing any previous watchlist.
func (h *index) setUser(app, user string, c *Conn, oldWatchlist, watchlist []string) {
	h.usersMu.Lock()
	lockTaken()
	defer func() { lockReleased(); h.usersMu.Unlock() }()
	addIndex(h.users, userKey{app, user}, c)
	for _, w := range oldWatchlist {
		removeIndex(h.watchers, userKey{app, w}, c)
	}
	for _, w := range watchlist {
		addIndex(h.watchers, userKey{app, w}, c)
	}
}

// removeUser drops c from the user and watcher indexes.
func (h *index) removeUser(app, user string, c *Conn, watchlist []string) {
	h.usersMu.Lock()
	lockTaken()
	defer func() { lockReleased(); h.usersMu.Unlock() }()
	removeIndex(h.users, userKey{app, user}, c)
	for _, w := range watchlist {
		removeIndex(h.watchers, userKey{app, w}, c)
	}
}

// userConnsOf returns the local connections signed in as user.
func (h *index) userConnsOf(app, user string) []*Conn {
	return h.snapshot(h.users, userKey{app, user})
}

// watchersOf returns the local connections watching user.
func (h *index) watchersOf(app, user string) []*Conn {
	return h.snapshot(h.watchers, userKey{app, user})
}

func (h *index) snapshot(m map[userKey]map[*Conn]struct{}, k userKey) []*Conn {
	h.usersMu.RLock()
	lockTaken()
	defer func() { lockReleased(); h.usersMu.RUnlock() }()
	set := m[k]
	out := make([]*Conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}
