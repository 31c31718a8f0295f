// Package hub is the hot path: WebSocket connections, their outgoing queues
// and writers, and the sharded channel → subscriber index that broadcasts
// walk. It also runs the Pusher protocol on each connection.
//
// Lock order (outer to inner; never take an outer lock while holding an
// inner one, and never do I/O under any of them):
//
//	Conn.mu → Hub shard.mu → Hub.usersMu → Conn.wmu
//
// Conn.wmu (the outgoing queue) is a leaf: enqueueing never blocks on I/O.
// presence.Memory's locks are leaves too and are only taken outside Hub locks,
// except for the presence member list read inside Hub.Add's callback.
package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const hubShards = 64

// Hub indexes local subscriptions by (app, channel), sharded so publishers
// on different channels do not contend.
type Hub struct {
	seed   maphash.Seed
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

type subscribers struct{ list []*Subscription }

// Subscription is one connection's membership of one channel. Facts the
// broadcast loop needs are copied in at subscribe time so it reads plain
// fields.
type Subscription struct {
	conn     *Conn
	socketID string
	idx      int                        // position in subscribers.list, for O(1) removal
	hold     atomic.Pointer[replayHold] // non-nil only while a history replay is read (replay.go)
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	h := &Hub{seed: maphash.MakeSeed(), users: map[userKey]map[*Conn]struct{}{}, watchers: map[userKey]map[*Conn]struct{}{}}
	for i := range h.shards {
		h.shards[i].channels = map[chanKey]*subscribers{}
	}
	return h
}

func (h *Hub) shard(app, channel string) *hubShard {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(app)
	m.WriteByte(0)
	m.WriteString(channel)
	return &h.shards[m.Sum64()%hubShards]
}

// Add registers s and, under the same lock, runs then (which queues
// subscription_succeeded): no broadcast can slip between the two, so the
// socket receives exactly the events published after its success frame.
// first reports that s is the channel's first local subscriber.
func (h *Hub) Add(app, channel string, s *Subscription, then func()) (first bool) {
	sh := h.shard(app, channel)
	k := chanKey{app, channel}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.channels[k]
	if subs == nil {
		subs = &subscribers{}
		sh.channels[k] = subs
		first = true
	}
	s.idx = len(subs.list)
	subs.list = append(subs.list, s)
	if then != nil {
		then()
	}
	return first
}

// Remove unregisters s; last reports that no local subscriber remains.
func (h *Hub) Remove(app, channel string, s *Subscription) (last bool) {
	sh := h.shard(app, channel)
	k := chanKey{app, channel}
	sh.mu.Lock()
	defer sh.mu.Unlock()
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

// Broadcast queues frame (a complete WebSocket frame) on every local
// subscriber of the channel except the socket exclude, and returns how many
// it reached. The same bytes go to every recipient.
func (h *Hub) Broadcast(app, channel string, frame []byte, exclude string) int {
	sh := h.shard(app, channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.channels[chanKey{app, channel}]
	if subs == nil {
		return 0
	}
	n := 0
	for _, s := range subs.list {
		if exclude != "" && s.socketID == exclude {
			continue
		}
		if h := s.hold.Load(); h != nil {
			h.offer(frame)
		} else {
			s.conn.send(frame)
		}
		n++
	}
	return n
}

// LocalCount returns the number of local subscribers of a channel.
func (h *Hub) LocalCount(app, channel string) int {
	sh := h.shard(app, channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
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

// SetUser indexes c as signed in as user (and watching watchlist),
// replacing any previous watchlist.
func (h *Hub) SetUser(app, user string, c *Conn, oldWatchlist, watchlist []string) {
	h.usersMu.Lock()
	defer h.usersMu.Unlock()
	addIndex(h.users, userKey{app, user}, c)
	for _, w := range oldWatchlist {
		removeIndex(h.watchers, userKey{app, w}, c)
	}
	for _, w := range watchlist {
		addIndex(h.watchers, userKey{app, w}, c)
	}
}

// RemoveUser drops c from the user and watcher indexes.
func (h *Hub) RemoveUser(app, user string, c *Conn, watchlist []string) {
	h.usersMu.Lock()
	defer h.usersMu.Unlock()
	removeIndex(h.users, userKey{app, user}, c)
	for _, w := range watchlist {
		removeIndex(h.watchers, userKey{app, w}, c)
	}
}

// UserConns returns the local connections signed in as user.
func (h *Hub) UserConns(app, user string) []*Conn {
	return h.snapshot(h.users, userKey{app, user})
}

// Watchers returns the local connections watching user.
func (h *Hub) Watchers(app, user string) []*Conn {
	return h.snapshot(h.watchers, userKey{app, user})
}

func (h *Hub) snapshot(m map[userKey]map[*Conn]struct{}, k userKey) []*Conn {
	h.usersMu.RLock()
	defer h.usersMu.RUnlock()
	set := m[k]
	out := make([]*Conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}
