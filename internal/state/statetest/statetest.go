// Package statetest is the contract every state.State implementation
// must pass; each implementation's tests call Run with a fresh state.
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/state"
)

// Run runs the contract against stores made by newStore (one per subtest).
func Run(t *testing.T, newStore func(t *testing.T) state.State) {
	ctx := context.Background()
	t.Run("subscriptions", func(t *testing.T) {
		s := newStore(t)
		expectCount(t, 1)(sub(s, "a", "news", "1.1"))
		expectCount(t, 2)(sub(s, "a", "news", "1.2"))
		expectCount(t, 2)(sub(s, "a", "news", "1.2")) // idempotent
		expectCount(t, 1)(sub(s, "b", "news", "1.3")) // apps are separate
		c, err := s.Channel(ctx, "a", "news")
		if err != nil || c.Subscriptions != 2 || c.Users != 0 {
			t.Fatalf("Channel = %+v, %v", c, err)
		}
		expectCount(t, 1)(unsub(s, "a", "news", "1.1"))
		expectCount(t, 1)(unsub(s, "a", "news", "9.9")) // absent: no-op
		expectCount(t, 0)(unsub(s, "a", "news", "1.2"))
		if c, _ := s.Channel(ctx, "a", "news"); c != (state.Counts{}) {
			t.Fatalf("vacated channel = %+v", c)
		}
	})
	t.Run("channels listing", func(t *testing.T) {
		s := newStore(t)
		sub(s, "a", "presence-x", "1.1")
		addMember(s, "a", "presence-x", "1.1", member("u1"), 100)
		sub(s, "a", "private-y", "1.1")
		sub(s, "b", "presence-z", "1.2")
		got, err := s.Channels(ctx, "a", "presence-")
		if err != nil || len(got) != 1 || got["presence-x"] != (state.Counts{Subscriptions: 1, Users: 1}) {
			t.Fatalf("Channels(presence-) = %+v, %v", got, err)
		}
		all, _ := s.Channels(ctx, "a", "")
		if keys(all) != "[presence-x private-y]" {
			t.Fatalf("Channels() = %v", keys(all))
		}
	})
	t.Run("presence members", func(t *testing.T) {
		s := newStore(t)
		_, first, err := addMember(s, "a", "presence-r", "1.1", state.Member{UserID: "10", RawID: json.RawMessage(`10`), Info: json.RawMessage(`{"n":"first"}`)}, 2)
		if err != nil || !first {
			t.Fatalf("first join: %v %v", first, err)
		}
		// Same user, second socket: not first, and the first info is kept.
		stored, first, _ := addMember(s, "a", "presence-r", "1.2", state.Member{UserID: "10", RawID: json.RawMessage(`"10"`), Info: json.RawMessage(`{"n":"second"}`)}, 2)
		if first {
			t.Fatal("second socket of the same user reported first")
		}
		if string(stored.RawID) != "10" || string(stored.Info) != `{"n":"first"}` {
			t.Fatalf("second socket got %+v, want the first connection's member", stored)
		}
		if _, _, err := addMember(s, "a", "presence-r", "1.3", member("u2"), 2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := addMember(s, "a", "presence-r", "1.4", member("u3"), 2); !errors.Is(err, state.ErrFull) {
			t.Fatalf("third user over limit 2: %v", err)
		}
		// An existing user may add sockets even when full.
		if _, _, err := addMember(s, "a", "presence-r", "1.5", member("u2"), 2); err != nil {
			t.Fatalf("existing user on a full channel: %v", err)
		}
		ms := members(t, s, "a", "presence-r")
		if len(ms) != 2 || ms[0].UserID != "10" || string(ms[0].RawID) != "10" || string(ms[0].Info) != `{"n":"first"}` || ms[1].UserID != "u2" {
			t.Fatalf("members = %+v", ms)
		}
		if _, last, _ := removeMember(s, "a", "presence-r", "1.1", "10"); last {
			t.Fatal("removing one of two sockets reported last")
		}
		m, last, _ := removeMember(s, "a", "presence-r", "1.2", "10")
		if !last || string(m.RawID) != "10" {
			t.Fatalf("last socket: last=%v member=%+v", last, m)
		}
		if _, last, _ := removeMember(s, "a", "presence-r", "1.2", "10"); last {
			t.Fatal("removing again reported last")
		}
		if c, _ := s.Channel(ctx, "a", "presence-r"); c.Users != 1 {
			t.Fatalf("users after leave = %d", c.Users)
		}
	})
	t.Run("peer connections", func(t *testing.T) {
		// docs/features.md §4: a user is peer-enabled while at least one of its
		// connections in the channel opted in.
		s := newStore(t)
		peer := func(id string) state.Member { m := member(id); m.Peer = true; return m }
		expectPeers := func(m state.Member, err error, want int) {
			t.Helper()
			if err != nil || m.PeerConns != want || m.Peer != (want > 0) {
				t.Fatalf("member %+v (%v), want %d peer connections", m, err, want)
			}
		}
		m, _, err := addMember(s, "a", "presence-p", "1.1", member("u1"), 10)
		expectPeers(m, err, 0)
		m, _, err = addMember(s, "a", "presence-p", "1.2", peer("u1"), 10)
		expectPeers(m, err, 1)
		m, _, err = addMember(s, "a", "presence-p", "1.3", peer("u1"), 10)
		expectPeers(m, err, 2)
		m, first, err := addMember(s, "a", "presence-p", "1.4", peer("u2"), 10)
		if !first {
			t.Fatal("u2 not first")
		}
		expectPeers(m, err, 1)
		ms := members(t, s, "a", "presence-p")
		if len(ms) != 2 || ms[0].PeerConns != 2 || !ms[0].Peer || ms[1].PeerConns != 1 {
			t.Fatalf("members = %+v", ms)
		}
		m, last, err := removeMember(s, "a", "presence-p", "1.2", "u1")
		if last {
			t.Fatal("u1 left with two sockets remaining")
		}
		expectPeers(m, err, 1)
		m, _, err = removeMember(s, "a", "presence-p", "1.3", "u1")
		expectPeers(m, err, 0) // the plain socket 1.1 keeps u1 a member, not a peer
		ms = members(t, s, "a", "presence-p")
		if len(ms) != 2 || ms[0].UserID != "u1" || ms[0].Peer || ms[0].PeerConns != 0 {
			t.Fatalf("members after the peer sockets left = %+v", ms)
		}
		m, last, err = removeMember(s, "a", "presence-p", "1.4", "u2")
		if !last {
			t.Fatal("u2's only socket left but not last")
		}
		expectPeers(m, err, 0)
	})
	t.Run("users online", func(t *testing.T) {
		s := newStore(t)
		if first, _ := s.UserOnline(ctx, "a", "u1", "1.1"); !first {
			t.Fatal("first connection not first")
		}
		if first, _ := s.UserOnline(ctx, "a", "u1", "1.2"); first {
			t.Fatal("second connection reported first")
		}
		online, _ := s.Online(ctx, "a", []string{"u1", "u2"})
		if fmt.Sprint(online) != "[u1]" {
			t.Fatalf("Online = %v", online)
		}
		if last, _ := s.UserOffline(ctx, "a", "u1", "1.1"); last {
			t.Fatal("first of two offline reported last")
		}
		if last, _ := s.UserOffline(ctx, "a", "u1", "1.2"); !last {
			t.Fatal("last connection not last")
		}
		if online, _ := s.Online(ctx, "a", []string{"u1"}); len(online) != 0 {
			t.Fatalf("still online: %v", online)
		}
	})
	t.Run("cache", func(t *testing.T) {
		s := newStore(t)
		if _, ok, _ := s.Cache(ctx, "a", "cache-x"); ok {
			t.Fatal("empty cache hit")
		}
		s.SetCache(ctx, "a", "cache-x", state.CachedEvent{Event: "e", Data: "1", Expires: time.Now().Add(time.Hour)})
		s.SetCache(ctx, "a", "cache-x", state.CachedEvent{Event: "e", Data: "2", Expires: time.Now().Add(time.Hour)})
		ev, ok, _ := s.Cache(ctx, "a", "cache-x")
		if !ok || ev.Data != "2" {
			t.Fatalf("cache = %+v %v", ev, ok)
		}
		s.SetCache(ctx, "a", "cache-y", state.CachedEvent{Event: "e", Data: "old", Expires: time.Now().Add(-time.Second)})
		if _, ok, _ := s.Cache(ctx, "a", "cache-y"); ok {
			t.Fatal("expired cache returned")
		}
	})
	t.Run("concurrent joins count each user once", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				conn := fmt.Sprintf("1.%d", i)
				sub(s, "a", "presence-c", conn)
				addMember(s, "a", "presence-c", conn, member(fmt.Sprintf("u%d", i%10)), 100)
			}(i)
		}
		wg.Wait()
		c, _ := s.Channel(ctx, "a", "presence-c")
		if c.Subscriptions != 50 || c.Users != 10 {
			t.Fatalf("counts = %+v", c)
		}
	})
	t.Run("a full channel records nothing", func(t *testing.T) {
		s := newStore(t)
		addMember(s, "a", "presence-f", "1.1", member("u1"), 1)
		if _, err := s.Join(ctx, "a", "presence-f", "1.2", ptr(member("u2")), 1); !errors.Is(err, state.ErrFull) {
			t.Fatalf("second user on a channel of 1: %v", err)
		}
		if c, _ := s.Channel(ctx, "a", "presence-f"); c != (state.Counts{Subscriptions: 1, Users: 1}) {
			t.Fatalf("counts after a refused join = %+v", c)
		}
	})
	t.Run("versions order member changes and snapshots", func(t *testing.T) {
		s := newStore(t)
		j1, _ := s.Join(ctx, "a", "presence-v", "1.1", ptr(member("u1")), 10)
		snap, _ := s.Members(ctx, "a", "presence-v")
		j2, _ := s.Join(ctx, "a", "presence-v", "1.2", ptr(member("u2")), 10)
		j3, _ := s.Join(ctx, "a", "presence-v", "1.3", ptr(member("u1")), 10) // a second socket is a change too
		l1, _ := s.Leave(ctx, "a", "presence-v", "1.1", "u1")
		if !(j1.Version > 0 && j1.Version <= snap.Version && snap.Version < j2.Version && j2.Version < j3.Version && j3.Version < l1.Version) {
			t.Fatalf("versions join %d, snapshot %d, join %d, join %d, leave %d: want increasing, the snapshot after the first join only",
				j1.Version, snap.Version, j2.Version, j3.Version, l1.Version)
		}
		if len(snap.Members) != 1 {
			t.Fatalf("snapshot %+v", snap)
		}
		// A channel emptied and filled again keeps counting up, so an old
		// event can never pass for a new one.
		s.Leave(ctx, "a", "presence-v", "1.2", "u2")
		s.Leave(ctx, "a", "presence-v", "1.3", "u1")
		again, _ := s.Join(ctx, "a", "presence-v", "1.4", ptr(member("u9")), 10)
		if again.Version <= l1.Version {
			t.Fatalf("version %d after the channel emptied, want > %d", again.Version, l1.Version)
		}
		// Joins without a member carry no version.
		if j, _ := s.Join(ctx, "a", "news", "1.1", nil, 0); j.Version != 0 || j.FirstMember {
			t.Fatalf("plain join %+v", j)
		}
	})
	t.Run("transitions happen exactly once under concurrency", func(t *testing.T) {
		// Occupied, vacated, first and last member are decided by the
		// change itself: among concurrent joins exactly one sees
		// Subscriptions 1 and one FirstMember per user; among the leaves
		// exactly one sees 0 and one LastMember per user.
		s := newStore(t)
		const n = 40
		var wg sync.WaitGroup
		var mu sync.Mutex
		occupied, vacated := 0, 0
		first, last := map[string]int{}, map[string]int{}
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := fmt.Sprintf("u%d", i%4)
				j, err := s.Join(ctx, "a", "presence-t", fmt.Sprintf("1.%d", i), ptr(member(u)), 100)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if j.Subscriptions == 1 {
					occupied++
				}
				if j.FirstMember {
					first[u]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := fmt.Sprintf("u%d", i%4)
				l, err := s.Leave(ctx, "a", "presence-t", fmt.Sprintf("1.%d", i), u)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if l.Subscriptions == 0 {
					vacated++
				}
				if l.LastMember {
					last[u]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if occupied != 1 || vacated != 1 || len(first) != 4 || len(last) != 4 {
			t.Fatalf("occupied %d, vacated %d, first %v, last %v", occupied, vacated, first, last)
		}
		for u := range first {
			if first[u] != 1 || last[u] != 1 {
				t.Fatalf("user %s: first %d, last %d", u, first[u], last[u])
			}
		}
	})
}

// The calls below are the old single-purpose operations, spelt with
// Join and Leave, so each check reads as what it checks.

func sub(s state.State, app, channel, conn string) (int, error) {
	j, err := s.Join(context.Background(), app, channel, conn, nil, 0)
	return j.Subscriptions, err
}

func unsub(s state.State, app, channel, conn string) (int, error) {
	l, err := s.Leave(context.Background(), app, channel, conn, "")
	return l.Subscriptions, err
}

func addMember(s state.State, app, channel, conn string, m state.Member, max int) (state.Member, bool, error) {
	j, err := s.Join(context.Background(), app, channel, conn, &m, max)
	return j.Member, j.FirstMember, err
}

func removeMember(s state.State, app, channel, conn, user string) (state.Member, bool, error) {
	l, err := s.Leave(context.Background(), app, channel, conn, user)
	return l.Member, l.LastMember, err
}

func members(t *testing.T, s state.State, app, channel string) []state.Member {
	t.Helper()
	snap, err := s.Members(context.Background(), app, channel)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Members
}

func ptr(m state.Member) *state.Member { return &m }

func member(id string) state.Member {
	raw, _ := json.Marshal(id)
	return state.Member{UserID: id, RawID: raw, Info: json.RawMessage(`{}`)}
}

func expectCount(t *testing.T, want int) func(int, error) {
	return func(n int, err error) {
		t.Helper()
		if err != nil || n != want {
			t.Fatalf("count = %d (%v), want %d", n, err, want)
		}
	}
}

func keys(m map[string]state.Counts) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}
