package server

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
)

// Regression tests of issue 10's findings that live on the WebSocket
// side: each reproduces the attack at a size that runs in seconds and
// asserts the bound (docs/security.md lists them all).

// Finding 3: the signed-in user's user_info is a presence identity too,
// so presence_max_user_info_bytes applies to it on signin-derived
// presence and on personal channels (which join followed presence
// channels with it); signin itself stays accepted (docs/protocol.md §11.1).
func TestSigninUserInfoIsBoundByThePresenceLimit(t *testing.T) {
	s := startServer(t, nil)
	const room = "presence-room"
	big := `{"id":"fat","user_info":{"blob":"` + strings.Repeat("x", 60<<10) + `"}}`
	fat := s.connect(t, appBasic.key)
	fat.signin(appBasic, big)
	fat.send("pusher:subscribe", map[string]any{"channel": room, "auth": channelAuth(appBasic.key, appBasic.secret, fat.socketID, room, "")})
	fat.expectSubError(room, "LimitReached", 4301)
	fat.send("pusher:subscribe", map[string]any{"channel": "personal-fat", "auth": ""})
	fat.expectSubError("personal-fat", "LimitReached", 4301)
	fat.pingPong() // refused, never closed

	// At the limit is fine, and the member list carries only real members.
	ok := s.connect(t, appBasic.key)
	ok.signin(appBasic, `{"id":"ok","user_info":{"n":"`+strings.Repeat("y", 1024-8)+`"}}`)
	f := ok.subscribe(room, map[string]any{"auth": channelAuth(appBasic.key, appBasic.secret, ok.socketID, room, "")})
	if d := f.dataString(t); !strings.Contains(d, `"ids":["ok"]`) || len(d) > 1200 {
		t.Fatalf("member list: %.300s (%d bytes)", d, len(d))
	}
}

// Finding 7: signed user_data and channel_data are read by exact key.
// encoding/json matched keys case-insensitively, last one winning, so a
// backend that signed {"id":"alice","ID":"bob"} (JSON.parse: alice) had
// the socket signed in as bob, and "PEER" opted in to peer channels.
func TestSignedObjectsAreReadByExactKey(t *testing.T) {
	s := startServer(t, nil)
	for _, ud := range []string{`{"id":"alice","ID":"bob"}`, `{"id":"alice","id":"bob"}`, `{"Id":"bob"}`} {
		c := s.connect(t, appBasic.key)
		c.sendSignin(appBasic, ud)
		c.expectError(4009)
		c.expectClose(4009)
	}
	// Extra keys stay allowed, and the exact key is the one used.
	c := s.connect(t, appBasic.key)
	c.signin(appBasic, `{"id":"alice","name":"Alice","watchlist":[]}`)
	c.subscribe("#server-to-user-alice", map[string]any{"auth": ""})

	const room = "presence-exact"
	for _, cd := range []string{`{"user_id":"pp1","PEER":true}`, `{"user_id":"pp1","User_ID":"admin"}`, `{"user_id":"pp1","user_id":"admin"}`} {
		c := s.connect(t, appBasic.key)
		c.send("pusher:subscribe", map[string]any{"channel": room, "auth": channelAuth(appBasic.key, appBasic.secret, c.socketID, room, cd), "channel_data": cd})
		c.expectSubError(room, "InvalidData", 400)
	}
	ok := s.connect(t, appBasic.key)
	f := ok.subscribePresence(appBasic, room, `{"user_id":"pp1","user_info":{"UserInfo":1},"extra":true}`)
	if d := f.dataString(t); !strings.Contains(d, `"ids":["pp1"]`) {
		t.Fatalf("member list: %s", d)
	}
}

// Finding 5: client-chosen values are clipped before they reach a log
// line: a 900 KB app key or 500 KB client/version value cost about a
// megabyte of log per refused attempt.
func TestRejectedAttemptLogIsBounded(t *testing.T) {
	logs := &logBuffer{}
	s := startServerLogged(t, nil, logs)
	attempts := []string{
		"/app/" + strings.Repeat("k", 900<<10) + "?protocol=7",
		"/app/" + appBasic.key + "?protocol=" + strings.Repeat("7", 500<<10),
		"/app/" + appBasic.key + "?protocol=7&client=" + strings.Repeat("c", 500<<10),
		"/app/" + appBasic.key + "?protocol=7&version=" + strings.Repeat("v", 500<<10),
	}
	for _, path := range attempts {
		before := len(logs.String())
		c := s.dial(t, path, nil)
		if _, err := c.read(5 * time.Second); err != nil { // an error or connection_established
			t.Fatalf("%.40s…: %v", path, err)
		}
		c.conn.Close()
		testkit.Eventually(t, 5*time.Second, "the connection to be torn down", func() bool { return s.Node.Connections() == 0 })
		time.Sleep(20 * time.Millisecond) // the refusal line follows the close
		if grew := len(logs.String()) - before; grew > 2048 {
			t.Fatalf("%.40s…: %d bytes of log for one attempt", path, grew)
		}
	}
}

// Finding 9: each source address gets a share of the node's connection
// rate, so a flood from one address leaves room for everyone else. With
// the node-wide bucket alone a legitimate client got in on 44 of 92
// attempts during a flood.
func TestConnectionRateFloodLeavesOthersTheirShare(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_MAX_CONNECTION_RATE": "40", "PUSHI_MAX_CONNECTION_RATE_PER_IP": "20"})
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	var flooded, floodIn atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := ws.Dialer{Timeout: 2 * time.Second}
			for ctx.Err() == nil {
				conn, _, _, err := d.Dial(ctx, s.wsURL+"/app/"+appBasic.key+"?protocol=7")
				flooded.Add(1)
				if err == nil {
					floodIn.Add(1)
					conn.Close()
				}
			}
		}()
	}
	// The legitimate client comes from another loopback address.
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	legit := ws.Dialer{Timeout: 2 * time.Second, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: local}).DialContext(ctx, network, addr)
	}}
	tries, in := 0, 0
	for tick := time.NewTicker(100 * time.Millisecond); ctx.Err() == nil; <-tick.C {
		tries++
		if conn, _, _, err := legit.Dial(context.Background(), s.wsURL+"/app/"+appBasic.key+"?protocol=7"); err == nil {
			in++
			conn.Close()
		}
	}
	wg.Wait()
	t.Logf("flood: %d of %d attempts in; legitimate: %d of %d", floodIn.Load(), flooded.Load(), in, tries)
	if flooded.Load() < 200 {
		t.Fatalf("the flood made only %d attempts: not a flood", flooded.Load())
	}
	if in < tries-1 {
		t.Fatalf("legitimate client got in on %d of %d attempts during the flood", in, tries)
	}
	if max := int64(20*2 + 20 + 5); floodIn.Load() > max {
		t.Fatalf("the flooding address got %d connections in 2 s, over its share (%d)", floodIn.Load(), max)
	}
}

// Finding 12: stored client events are rate-bound per user. Peer
// channels may name a partner who never appears, so before this one
// user could grow stored history without bound (~240 KB/s per socket).
func TestPersistedClientEventsAreBoundPerUser(t *testing.T) {
	s := startServerWithApps(t, `{"apps":[{"id":"300001","key":"key-q","secret":"secret-q","client_events":true,
  "limits":{"client_event_rate":100,"persisted_client_events_per_min":5}}]}`, nil)
	a := testApp{"300001", "key-q", "secret-q"}
	const room = "presence-q"
	// Two sockets of the same user share the user's budget.
	var socks []*wsClient
	for range 2 {
		c := s.connect(t, a.key)
		c.subscribePresence(a, room, peerData("mallory"))
		socks = append(socks, c)
	}
	socks[0].expectNothing(50 * time.Millisecond)
	stored, refused := 0, 0
	for i := range 12 {
		c := socks[i%2]
		ghost := "peer-q:ghost" + strconv.Itoa(i) + "&mallory" // partners who never appear
		c.subscribe(ghost, nil)
		c.sendText(`{"event":"client-spam","channel":"` + ghost + `","data":"` + strings.Repeat("z", 100) + `"}`)
		// A ping behind it: its pong comes first unless the event was refused.
		c.sendText(`{"event":"pusher:ping","data":{}}`)
		switch f := c.next(); {
		case f.Event == "pusher:pong":
			stored++ // and delivered to nobody: the partner is not there
		case f.Event == "pusher:error" && strings.Contains(string(f.Data), "4301"):
			refused++
			c.expectEvent("pusher:pong")
		default:
			t.Fatalf("event %d: %s", i, f.raw)
		}
	}
	if stored != 5 || refused != 7 {
		t.Fatalf("stored %d and refused %d of 12, want 5 and 7", stored, refused)
	}
	total := 0
	for i := range 12 {
		events, _, err := s.Store.Events(context.Background(), a.id, "peer-q:ghost"+strconv.Itoa(i)+"&mallory", store.EventQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		total += len(events)
	}
	if total != 5 {
		t.Fatalf("%d events stored, want 5", total)
	}
}

// Finding 13 (hub side): a follow of a peer channel, stored before the
// API refused them, gives a third user neither reading nor writing.
func TestStoredPeerFollowGivesNoAccess(t *testing.T) {
	s := startPushiServer(t)
	const pair = "peer-chat:alice&bob"
	if _, _, err := s.Store.Follow(context.Background(), store.Follow{AppID: appPeer.id, UserID: "mallory", Channel: pair, CreatedAt: time.Now()}, 100); err != nil {
		t.Fatal(err)
	}
	m := s.connect(t, appPeer.key)
	m.signin(appPeer, `{"id":"mallory"}`)
	f := m.subscribe("personal-mallory", map[string]any{"auth": ""})
	if d := f.dataString(t); !strings.Contains(d, `"alias":[]`) {
		t.Fatalf("personal channel holds the peer channel: %s", d)
	}
	m.sendText(`{"event":"client-hi","channel":"` + pair + `","data":"x"}`)
	if e := m.expectError(nil); !strings.Contains(string(e.Data), "Not subscribed") {
		t.Fatalf("write to the pair: %s", e.raw)
	}
	status, _ := s.api(t, appPeer, "POST", "/events", nil, `{"name":"secret","channel":"`+pair+`","data":"for alice and bob"}`)
	if status != 200 {
		t.Fatalf("trigger: %d", status)
	}
	m.expectNothing(200 * time.Millisecond)
}
