package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/store"
)

// memFollows is the follows and inbox part of store.Store; the rest of the
// interface is not used by the hub.
type memFollows struct {
	store.Store
	mu        sync.Mutex
	follows   map[string]map[string]bool // user → channels
	afterRead func()                     // runs once, after the next FollowedBy has read
}

func (s *memFollows) FollowedBy(_ context.Context, _, user string) ([]string, error) {
	s.mu.Lock()
	var out []string
	for ch := range s.follows[user] {
		out = append(out, ch)
	}
	hook := s.afterRead
	s.afterRead = nil
	s.mu.Unlock()
	sort.Strings(out)
	if hook != nil {
		hook()
	}
	return out, nil
}

func (s *memFollows) Inbox(context.Context, string, string, store.InboxQuery) ([]store.Event, bool, error) {
	return nil, false, nil
}

func (s *memFollows) set(user, channel string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.follows[user] == nil {
		s.follows[user] = map[string]bool{}
	}
	if on {
		s.follows[user][channel] = true
	} else {
		delete(s.follows[user], channel)
	}
}

func storeNode(t testing.TB, st store.Store) (*Node, *apps.App) {
	t.Helper()
	return newTestNode(t, st, nil)
}

func subscribeMsg(c *Conn, channel, channelData string) []byte {
	auth := "key:" + protocol.Sign("secret", protocol.ChannelAuthMessage(c.socketID, channel, channelData))
	data := map[string]any{"channel": channel, "auth": auth}
	if channelData != "" {
		data["channel_data"] = channelData
	}
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": data})
	return b
}

func unsubscribeMsg(channel string) []byte {
	return []byte(`{"event":"pusher:unsubscribe","data":{"channel":"` + channel + `"}}`)
}

// TestPeerPairsConverge joins and leaves a presence channel from many
// sockets at once (some opted in to peers, some not, some torn down) and
// checks that every survivor ends with exactly the pairs the state store
// implies, and that no lock order is violated (go test -race, no hang).
func TestPeerPairsConverge(t *testing.T) {
	n, app := testNode(t)
	const ch = "presence-chat"
	users := []string{"ann", "bob", "cat", "dan"}
	var conns []*Conn
	for i := 0; i < 16; i++ {
		c, _ := pipeConn(t, n, app)
		conns = append(conns, c)
	}
	data := func(i int) string {
		// dan never opts in; everyone else does.
		return fmt.Sprintf(`{"user_id":%q,"peer":%v}`, users[i%4], users[i%4] != "dan")
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for k := 0; k < 40; k++ {
				switch r.IntN(4) {
				case 0:
					n.handleMessage(c, unsubscribeMsg(ch))
				case 1:
					// A direct subscribe to one of its pair channels: allowed
					// only while eligible, then held with two sources.
					other := users[r.IntN(4)]
					if name, ok := protocol.PeerChannel(ch, users[i%4], other, 200); ok {
						n.handleMessage(c, subscribeMsg(c, name, ""))
					}
				default:
					n.handleMessage(c, subscribeMsg(c, ch, data(i)))
				}
			}
			if i%5 == 0 {
				c.teardown()
			}
		}()
	}
	wg.Wait()

	members, _ := n.state.Members(context.Background(), app.ID, ch)
	peerUsers := map[string]bool{}
	for _, m := range members.Members {
		if m.PeerConns > 0 {
			peerUsers[m.UserID] = true
		}
	}
	held := 0
	for i, c := range conns {
		c.mu.Lock()
		cs := c.subs[ch]
		var want []string
		if cs != nil {
			held++
			if cs.member.peer {
				for u := range peerUsers {
					if name, ok := protocol.PeerChannel(ch, users[i%4], u, 200); ok {
						want = append(want, name)
					}
				}
			}
		}
		sort.Strings(want)
		var got []string
		if cs != nil && cs.member != nil {
			got = sortedKeys(cs.member.pairs)
		}
		var peerSubs []string
		for name, s := range c.subs {
			if s.ch.Kind == protocol.Peer {
				peerSubs = append(peerSubs, name)
				if cs == nil || !cs.member.peer {
					t.Errorf("socket %d holds %s without a peer-enabled presence membership", i, name)
				}
			}
		}
		for _, name := range want {
			if s := c.subs[name]; s == nil || s.src&srcPeer == 0 {
				t.Errorf("socket %d: pair %s announced but not held with the peer source", i, name)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("socket %d (%s, gone=%v): pairs %v, want %v; holds %v", i, users[i%4], c.gone, got, want, peerSubs)
		}
		c.mu.Unlock()
	}
	if counts, _ := n.state.Channel(context.Background(), app.ID, ch); counts.Subscriptions != held {
		t.Fatalf("state store counts %d subscribers, sockets hold %d", counts.Subscriptions, held)
	}
}

// TestFollowResyncConverges changes follows while sockets subscribe to and
// leave the personal channel: every socket that holds it ends with exactly
// the followed channels as alias sources.
func TestFollowResyncConverges(t *testing.T) {
	st := &memFollows{follows: map[string]map[string]bool{}}
	n, app := storeNode(t, st)
	const personal = "personal-42"
	channels := []string{"a", "b", "c", "presence-p", "private-d"}
	var conns []*Conn
	for i := 0; i < 8; i++ {
		c, _ := pipeConn(t, n, app)
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(99, 1))
		for k := 0; k < 200; k++ {
			name, on := channels[r.IntN(len(channels))], r.IntN(2) == 0
			st.set("42", name, on)
			n.FollowChanged(context.Background(), app, "42", name, on)
		}
	}()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for k := 0; k < 30; k++ {
				if r.IntN(3) == 0 {
					n.handleMessage(c, unsubscribeMsg(personal))
				} else {
					n.handleMessage(c, subscribeMsg(c, personal, `{"user_id":42}`))
				}
				time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	want, _ := st.FollowedBy(context.Background(), app.ID, "42")
	for i, c := range conns {
		c.mu.Lock()
		var got []string
		if c.subs[personal] != nil {
			got = c.ext.personal[personal].sorted()
			for _, name := range got {
				if s := c.subs[name]; s == nil || s.src&srcAlias == 0 {
					t.Errorf("socket %d: alias %s not held with the alias source", i, name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("socket %d: aliases %v, want %v", i, got, want)
			}
		} else {
			for name, s := range c.subs {
				if s.src&srcAlias != 0 {
					t.Errorf("socket %d holds %s through an alias without its personal channel", i, name)
				}
			}
		}
		c.mu.Unlock()
	}
}

// A follow stored and announced after the subscribe read the follows but
// before the socket was in the hub reaches it anyway, as alias_changed.
func TestPersonalSubscribeSeesFollowAnnouncedMeanwhile(t *testing.T) {
	st := &memFollows{follows: map[string]map[string]bool{}}
	n, app := storeNode(t, st)
	c, rc := recordedConnOn(n, app)
	st.afterRead = func() {
		st.set("42", "news", true)
		n.FollowChanged(context.Background(), app, "42", "news", true) // finds no socket yet
	}
	n.handleMessage(c, subscribeMsg(c, "personal-42", ""))
	got := rc.frames(t, 2)
	want := []string{
		`{"event":"pusher_internal:subscription_succeeded","channel":"personal-42","data":"{\"alias\":[],\"events\":[]}"}`,
		`{"event":"pushi_internal:alias_changed","channel":"personal-42","data":"{\"alias\":[\"news\"],\"added\":[\"news\"],\"removed\":[]}"}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames\n got: %v\nwant: %v", got, want)
	}
	if n.index.localCount(app.ID, "news") != 1 {
		t.Fatal("the socket does not hold the followed channel")
	}
}

// The docs/features.md §3 test vector, as a subscribe on socket 1234.1234.
func TestPersonalAuthVector(t *testing.T) {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "3", "278d425bdf160c739803", "7ad3773142a6692b25b8", "vector"
	reg, err := apps.NewStatic([]apps.App{a})
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := NewNode(opts, reg, state.NewMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c, rc := recordedConnOn(n, reg.ByID("3"))
	c.socketID = "1234.1234"
	n.handleMessage(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"personal-42","auth":"278d425bdf160c739803:2cab66effe264059432fadf78985c2ded0fc982162c5b9a45f9b494abe9d4fbe"}}`))
	n.handleMessage(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"personal-43","auth":"278d425bdf160c739803:2cab66effe264059432fadf78985c2ded0fc982162c5b9a45f9b494abe9d4fbe"}}`))
	got := rc.frames(t, 2)
	want := []string{
		`{"event":"pusher_internal:subscription_succeeded","channel":"personal-42","data":"{\"alias\":[],\"events\":[]}"}`,
		`{"event":"pusher:subscription_error","channel":"personal-43","data":"{\"type\":\"AuthError\",\"error\":\"Invalid signature\",\"status\":401}"}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames\n got: %v\nwant: %v", got, want)
	}
}
