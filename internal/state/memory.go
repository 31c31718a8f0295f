package state

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/shard"
)

const memoryShards = 64

// Memory is the single-node State, sharded by app and channel so that
// subscribes on different channels do not contend.
type Memory struct {
	pick    shard.Picker
	shards  [memoryShards]memShard
	version atomic.Uint64 // member changes, see Snapshot
	usersMu sync.Mutex
	users   map[string]map[string]map[string]struct{} // app → user → conns
	now     func() time.Time
}

type memShard struct {
	mu        sync.Mutex
	channels  map[chanKey]*memChannel
	cache     map[chanKey]CachedEvent
	cacheSets uint64
}

type chanKey struct{ app, channel string }

type memChannel struct {
	conns   map[string]struct{}
	members map[string]*memMember
	order   []string // user ids in join order
}

type memMember struct {
	m     Member
	conns map[string]struct{}
	peers map[string]struct{} // the conns that opted in to peer channels
}

// result is the stored member with the user's current peer count.
func (mm *memMember) result() Member {
	m := mm.m
	m.PeerConns = len(mm.peers)
	m.Peer = m.PeerConns > 0
	return m
}

var _ State = (*Memory)(nil)

// NewMemory returns an empty state.
func NewMemory() *Memory {
	s := &Memory{pick: shard.NewPicker(), users: map[string]map[string]map[string]struct{}{}, now: time.Now}
	for i := range s.shards {
		s.shards[i].channels = map[chanKey]*memChannel{}
		s.shards[i].cache = map[chanKey]CachedEvent{}
	}
	return s
}

func (s *Memory) shard(app, channel string) *memShard {
	return &s.shards[s.pick.Of(app, channel, memoryShards)]
}

// channel returns the entry, creating it when create is set. Caller holds sh.mu.
func (sh *memShard) channel(k chanKey, create bool) *memChannel {
	c := sh.channels[k]
	if c == nil && create {
		c = &memChannel{conns: map[string]struct{}{}, members: map[string]*memMember{}}
		sh.channels[k] = c
	}
	return c
}

func (sh *memShard) dropIfEmpty(k chanKey, c *memChannel) {
	if len(c.conns) == 0 && len(c.members) == 0 {
		delete(sh.channels, k)
	}
}

func (s *Memory) Join(_ context.Context, app, channel, conn string, m *Member, maxMembers int) (Joined, error) {
	sh := s.shard(app, channel)
	k := chanKey{app, channel}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.channel(k, true)
	var j Joined
	if m != nil {
		mm := c.members[m.UserID]
		switch {
		case mm != nil:
			mm.conns[conn] = struct{}{}
			if m.Peer {
				mm.peers[conn] = struct{}{}
			}
			j.Member = mm.result()
		case len(c.members) >= maxMembers:
			sh.dropIfEmpty(k, c)
			return Joined{}, ErrFull
		default:
			mm = &memMember{m: *m, conns: map[string]struct{}{conn: {}}, peers: map[string]struct{}{}}
			mm.m.Peer, mm.m.PeerConns = false, 0
			if m.Peer {
				mm.peers[conn] = struct{}{}
			}
			c.members[m.UserID] = mm
			c.order = append(c.order, m.UserID)
			j.Member, j.FirstMember = mm.result(), true
		}
		// Every member change gets a version, not only first joins: a
		// snapshot must also order itself against peer-count changes.
		j.Version = s.version.Add(1)
	}
	c.conns[conn] = struct{}{}
	j.Subscriptions = len(c.conns)
	return j, nil
}

func (s *Memory) Leave(_ context.Context, app, channel, conn, userID string) (Left, error) {
	sh := s.shard(app, channel)
	k := chanKey{app, channel}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.channel(k, false)
	if c == nil {
		return Left{}, nil
	}
	delete(c.conns, conn)
	l := Left{Subscriptions: len(c.conns)}
	if mm := c.members[userID]; userID != "" && mm != nil {
		if _, ok := mm.conns[conn]; ok {
			delete(mm.conns, conn)
			delete(mm.peers, conn)
			l.Version = s.version.Add(1)
			if len(mm.conns) == 0 {
				delete(c.members, userID)
				for i, id := range c.order {
					if id == userID {
						c.order = append(c.order[:i], c.order[i+1:]...)
						break
					}
				}
				l.LastMember = true
			}
		}
		l.Member = mm.result()
	}
	sh.dropIfEmpty(k, c)
	return l, nil
}

func (s *Memory) Channel(_ context.Context, app, channel string) (Counts, error) {
	sh := s.shard(app, channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.channel(chanKey{app, channel}, false)
	if c == nil {
		return Counts{}, nil
	}
	return Counts{Subscriptions: len(c.conns), Users: len(c.members)}, nil
}

func (s *Memory) Channels(_ context.Context, app, prefix string) (map[string]Counts, error) {
	out := map[string]Counts{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, c := range sh.channels {
			if k.app == app && strings.HasPrefix(k.channel, prefix) && len(c.conns) > 0 {
				out[k.channel] = Counts{Subscriptions: len(c.conns), Users: len(c.members)}
			}
		}
		sh.mu.Unlock()
	}
	return out, nil
}

func (s *Memory) Members(_ context.Context, app, channel string) (Snapshot, error) {
	sh := s.shard(app, channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Every change of this channel takes a version under this lock, so
	// the counter read here orders the snapshot among them.
	snap := Snapshot{Version: s.version.Load()}
	c := sh.channel(chanKey{app, channel}, false)
	if c == nil {
		return snap, nil
	}
	snap.Members = make([]Member, 0, len(c.order))
	for _, id := range c.order {
		snap.Members = append(snap.Members, c.members[id].result())
	}
	return snap, nil
}

func (s *Memory) UserOnline(_ context.Context, app, userID, conn string) (bool, error) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	byUser := s.users[app]
	if byUser == nil {
		byUser = map[string]map[string]struct{}{}
		s.users[app] = byUser
	}
	conns := byUser[userID]
	if conns == nil {
		conns = map[string]struct{}{}
		byUser[userID] = conns
	}
	conns[conn] = struct{}{}
	return len(conns) == 1, nil
}

func (s *Memory) UserOffline(_ context.Context, app, userID, conn string) (bool, error) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	conns := s.users[app][userID]
	if conns == nil {
		return false, nil
	}
	if _, ok := conns[conn]; !ok {
		return false, nil
	}
	delete(conns, conn)
	if len(conns) > 0 {
		return false, nil
	}
	delete(s.users[app], userID)
	if len(s.users[app]) == 0 {
		delete(s.users, app)
	}
	return true, nil
}

func (s *Memory) Online(_ context.Context, app string, ids []string) ([]string, error) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	var out []string
	for _, id := range ids {
		if len(s.users[app][id]) > 0 {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Memory) SetCache(_ context.Context, app, channel string, ev CachedEvent) error {
	sh := s.shard(app, channel)
	sh.mu.Lock()
	sh.cache[chanKey{app, channel}] = ev
	if sh.cacheSets++; sh.cacheSets%1024 == 0 {
		// Expired slots of channels nobody reads again would stay forever;
		// an occasional sweep bounds them at no cost per event.
		now := s.now()
		for k, e := range sh.cache {
			if !now.Before(e.Expires) {
				delete(sh.cache, k)
			}
		}
	}
	sh.mu.Unlock()
	return nil
}

func (s *Memory) Cache(_ context.Context, app, channel string) (CachedEvent, bool, error) {
	sh := s.shard(app, channel)
	k := chanKey{app, channel}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ev, ok := sh.cache[k]
	if !ok {
		return CachedEvent{}, false, nil
	}
	if !s.now().Before(ev.Expires) {
		delete(sh.cache, k)
		return CachedEvent{}, false, nil
	}
	return ev, true, nil
}

// CacheSlots counts the stored cache slots, expired ones included.
func (s *Memory) CacheSlots() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].cache)
		s.shards[i].mu.Unlock()
	}
	return n
}
