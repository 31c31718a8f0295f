// Package storetest is the contract every presence.Store implementation
// must pass; each implementation's tests call Run with a fresh store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/presence"
)

// Run runs the contract against stores made by newStore (one per subtest).
func Run(t *testing.T, newStore func(t *testing.T) presence.Store) {
	ctx := context.Background()
	t.Run("subscriptions", func(t *testing.T) {
		s := newStore(t)
		expectCount(t, 1)(s.AddSubscriber(ctx, "a", "news", "1.1"))
		expectCount(t, 2)(s.AddSubscriber(ctx, "a", "news", "1.2"))
		expectCount(t, 2)(s.AddSubscriber(ctx, "a", "news", "1.2")) // idempotent
		expectCount(t, 1)(s.AddSubscriber(ctx, "b", "news", "1.3")) // apps are separate
		c, err := s.Channel(ctx, "a", "news")
		if err != nil || c.Subscriptions != 2 || c.Users != 0 {
			t.Fatalf("Channel = %+v, %v", c, err)
		}
		expectCount(t, 1)(s.RemoveSubscriber(ctx, "a", "news", "1.1"))
		expectCount(t, 1)(s.RemoveSubscriber(ctx, "a", "news", "9.9")) // absent: no-op
		expectCount(t, 0)(s.RemoveSubscriber(ctx, "a", "news", "1.2"))
		if c, _ := s.Channel(ctx, "a", "news"); c != (presence.Counts{}) {
			t.Fatalf("vacated channel = %+v", c)
		}
	})
	t.Run("channels listing", func(t *testing.T) {
		s := newStore(t)
		s.AddSubscriber(ctx, "a", "presence-x", "1.1")
		s.AddMember(ctx, "a", "presence-x", "1.1", member("u1"), 100)
		s.AddSubscriber(ctx, "a", "private-y", "1.1")
		s.AddSubscriber(ctx, "b", "presence-z", "1.2")
		got, err := s.Channels(ctx, "a", "presence-")
		if err != nil || len(got) != 1 || got["presence-x"] != (presence.Counts{Subscriptions: 1, Users: 1}) {
			t.Fatalf("Channels(presence-) = %+v, %v", got, err)
		}
		all, _ := s.Channels(ctx, "a", "")
		if keys(all) != "[presence-x private-y]" {
			t.Fatalf("Channels() = %v", keys(all))
		}
	})
	t.Run("presence members", func(t *testing.T) {
		s := newStore(t)
		_, first, err := s.AddMember(ctx, "a", "presence-r", "1.1", presence.Member{UserID: "10", RawID: json.RawMessage(`10`), Info: json.RawMessage(`{"n":"first"}`)}, 2)
		if err != nil || !first {
			t.Fatalf("first join: %v %v", first, err)
		}
		// Same user, second socket: not first, and the first info is kept.
		stored, first, _ := s.AddMember(ctx, "a", "presence-r", "1.2", presence.Member{UserID: "10", RawID: json.RawMessage(`"10"`), Info: json.RawMessage(`{"n":"second"}`)}, 2)
		if first {
			t.Fatal("second socket of the same user reported first")
		}
		if string(stored.RawID) != "10" || string(stored.Info) != `{"n":"first"}` {
			t.Fatalf("second socket got %+v, want the first connection's member", stored)
		}
		if _, _, err := s.AddMember(ctx, "a", "presence-r", "1.3", member("u2"), 2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AddMember(ctx, "a", "presence-r", "1.4", member("u3"), 2); !errors.Is(err, presence.ErrFull) {
			t.Fatalf("third user over limit 2: %v", err)
		}
		// An existing user may add sockets even when full.
		if _, _, err := s.AddMember(ctx, "a", "presence-r", "1.5", member("u2"), 2); err != nil {
			t.Fatalf("existing user on a full channel: %v", err)
		}
		ms, _ := s.Members(ctx, "a", "presence-r")
		if len(ms) != 2 || ms[0].UserID != "10" || string(ms[0].RawID) != "10" || string(ms[0].Info) != `{"n":"first"}` || ms[1].UserID != "u2" {
			t.Fatalf("members = %+v", ms)
		}
		if _, last, _ := s.RemoveMember(ctx, "a", "presence-r", "1.1", "10"); last {
			t.Fatal("removing one of two sockets reported last")
		}
		m, last, _ := s.RemoveMember(ctx, "a", "presence-r", "1.2", "10")
		if !last || string(m.RawID) != "10" {
			t.Fatalf("last socket: last=%v member=%+v", last, m)
		}
		if _, last, _ := s.RemoveMember(ctx, "a", "presence-r", "1.2", "10"); last {
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
		peer := func(id string) presence.Member { m := member(id); m.Peer = true; return m }
		expectPeers := func(m presence.Member, err error, want int) {
			t.Helper()
			if err != nil || m.PeerConns != want || m.Peer != (want > 0) {
				t.Fatalf("member %+v (%v), want %d peer connections", m, err, want)
			}
		}
		m, _, err := s.AddMember(ctx, "a", "presence-p", "1.1", member("u1"), 10)
		expectPeers(m, err, 0)
		m, _, err = s.AddMember(ctx, "a", "presence-p", "1.2", peer("u1"), 10)
		expectPeers(m, err, 1)
		m, _, err = s.AddMember(ctx, "a", "presence-p", "1.3", peer("u1"), 10)
		expectPeers(m, err, 2)
		m, first, err := s.AddMember(ctx, "a", "presence-p", "1.4", peer("u2"), 10)
		if !first {
			t.Fatal("u2 not first")
		}
		expectPeers(m, err, 1)
		ms, _ := s.Members(ctx, "a", "presence-p")
		if len(ms) != 2 || ms[0].PeerConns != 2 || !ms[0].Peer || ms[1].PeerConns != 1 {
			t.Fatalf("members = %+v", ms)
		}
		m, last, err := s.RemoveMember(ctx, "a", "presence-p", "1.2", "u1")
		if last {
			t.Fatal("u1 left with two sockets remaining")
		}
		expectPeers(m, err, 1)
		m, _, err = s.RemoveMember(ctx, "a", "presence-p", "1.3", "u1")
		expectPeers(m, err, 0) // the plain socket 1.1 keeps u1 a member, not a peer
		ms, _ = s.Members(ctx, "a", "presence-p")
		if len(ms) != 2 || ms[0].UserID != "u1" || ms[0].Peer || ms[0].PeerConns != 0 {
			t.Fatalf("members after the peer sockets left = %+v", ms)
		}
		m, last, err = s.RemoveMember(ctx, "a", "presence-p", "1.4", "u2")
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
		s.SetCache(ctx, "a", "cache-x", presence.CachedEvent{Event: "e", Data: "1", Expires: time.Now().Add(time.Hour)})
		s.SetCache(ctx, "a", "cache-x", presence.CachedEvent{Event: "e", Data: "2", Expires: time.Now().Add(time.Hour)})
		ev, ok, _ := s.Cache(ctx, "a", "cache-x")
		if !ok || ev.Data != "2" {
			t.Fatalf("cache = %+v %v", ev, ok)
		}
		s.SetCache(ctx, "a", "cache-y", presence.CachedEvent{Event: "e", Data: "old", Expires: time.Now().Add(-time.Second)})
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
				s.AddSubscriber(ctx, "a", "presence-c", conn)
				s.AddMember(ctx, "a", "presence-c", conn, member(fmt.Sprintf("u%d", i%10)), 100)
			}(i)
		}
		wg.Wait()
		c, _ := s.Channel(ctx, "a", "presence-c")
		if c.Subscriptions != 50 || c.Users != 10 {
			t.Fatalf("counts = %+v", c)
		}
	})
}

func member(id string) presence.Member {
	raw, _ := json.Marshal(id)
	return presence.Member{UserID: id, RawID: raw, Info: json.RawMessage(`{}`)}
}

func expectCount(t *testing.T, want int) func(int, error) {
	return func(n int, err error) {
		t.Helper()
		if err != nil || n != want {
			t.Fatalf("count = %d (%v), want %d", n, err, want)
		}
	}
}

func keys(m map[string]presence.Counts) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}
