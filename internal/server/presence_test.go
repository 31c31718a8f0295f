package server

import (
	"strings"
	"testing"
	"time"
)

// Presence channels (docs/protocol.md §7.3) and user authentication: signin,
// server-to-user, terminate, watchlist, user-auth timeout (§11–§12).

func TestPresenceExactFrames(t *testing.T) {
	s := startServer(t, nil)
	a, b, c := s.connect(t, "key-basic"), s.connect(t, "key-basic"), s.connect(t, "key-basic")
	ch := "presence-room"

	a.subscribePresence(appBasic, ch, `{"user_id":1,"user_info":{"name":"Ann"}}`)
	// (subscribePresence checked the event; check the exact frame on the next join.)
	b.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", b.socketID, ch, `{"user_id":"2"}`), "channel_data": `{"user_id":"2"}`})
	b.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"ids\":[1,\"2\"],\"hash\":{\"1\":{\"name\":\"Ann\"},\"2\":{}},\"count\":2}}"}`)
	a.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"2\",\"user_info\":{}}"}`)
	b.expectNothing(100 * time.Millisecond) // no member_added to the joiner itself

	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, `{"user_id":3,"user_info":{ "name" : "Bo" },"extra":true}`), "channel_data": `{"user_id":3,"user_info":{ "name" : "Bo" },"extra":true}`})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"ids\":[1,\"2\",3],\"hash\":{\"1\":{\"name\":\"Ann\"},\"2\":{},\"3\":{\"name\":\"Bo\"}},\"count\":3}}"}`)
	added := `{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":3,\"user_info\":{\"name\":\"Bo\"}}"}`
	a.expectRaw(added)
	b.expectRaw(added)

	// Unsubscribe → member_removed to the others, integer id kept.
	a.send("pusher:unsubscribe", map[string]any{"channel": ch})
	removed := `{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":1}"}`
	b.expectRaw(removed)
	c.expectRaw(removed)
	a.expectNothing(100 * time.Millisecond)
	// Disconnect → member_removed too.
	b.conn.Close()
	c.expectRaw(`{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"2\"}"}`)

	// Idempotent re-subscribe: current state, no member events, original info kept.
	cd := `{"user_id":3,"user_info":{"name":"Changed"}}`
	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, cd), "channel_data": cd})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"ids\":[3],\"hash\":{\"3\":{\"name\":\"Bo\"}},\"count\":1}}"}`)
	d := s.connect(t, "key-basic")
	d.subscribePresence(appBasic, ch, `{"user_id":"4"}`)
	c.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"4\",\"user_info\":{}}"}`)
	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, cd), "channel_data": cd})
	c.expectEvent("pusher_internal:subscription_succeeded")
	d.expectNothing(150 * time.Millisecond)
}

func TestPresenceSameUserTwoSockets(t *testing.T) {
	s := startServer(t, nil)
	ch := "presence-dup"
	watcher := s.connect(t, "key-basic")
	watcher.subscribePresence(appBasic, ch, `{"user_id":"w"}`)

	u1, u2 := s.connect(t, "key-basic"), s.connect(t, "key-basic")
	u1.subscribePresence(appBasic, ch, `{"user_id":10,"user_info":{"n":1}}`)
	watcher.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-dup","data":"{\"user_id\":10,\"user_info\":{\"n\":1}}"}`)
	// Same user (string form of 10) on a second socket: counted once, first info kept.
	f := u2.subscribePresence(appBasic, ch, `{"user_id":"10","user_info":{"n":2}}`)
	if want := `{"presence":{"ids":["w",10],"hash":{"w":{},"10":{"n":1}},"count":2}}`; f.dataString(t) != want {
		t.Fatalf("succeeded data %s, want %s", f.dataString(t), want)
	}
	watcher.expectNothing(150 * time.Millisecond)
	u1.expectNothing(10 * time.Millisecond)

	// Client events from the second socket carry the first supplied id type.
	fa, fb := s.connect(t, "key-full"), s.connect(t, "key-full")
	fa.subscribePresence(appFull, ch, `{"user_id":10}`)
	fb.subscribePresence(appFull, ch, `{"user_id":"10"}`)
	fb.sendText(`{"event":"client-x","channel":"presence-dup","data":"d"}`)
	fa.expectRaw(`{"event":"client-x","channel":"presence-dup","data":"d","user_id":10}`)

	// member_removed only after the last socket of the user leaves.
	u1.conn.Close()
	watcher.expectNothing(200 * time.Millisecond)
	u2.send("pusher:unsubscribe", map[string]any{"channel": ch})
	watcher.expectRaw(`{"event":"pusher_internal:member_removed","channel":"presence-dup","data":"{\"user_id\":10}"}`)

	// HTTP view: one user per id, strings.
	status, body := s.api(t, appBasic, "GET", "/channels/"+ch+"/users", nil, "")
	if status != 200 || mustJSON(t, body) != `{"users":[{"id":"w"}]}` {
		t.Fatalf("users: %d %v", status, body)
	}
}

func TestSigninExact(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	ud := `{"id":"12345","user_info":{"name":"Ann"}}`
	c.sendSignin(appBasic, ud)
	c.expectRaw(`{"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ann\"}}"}}`)
	// Signing in again as the same id succeeds again.
	c.signin(appBasic, `{"id":"12345"}`)

	// Server-to-user channel, then a trigger on it reaches the socket.
	c.send("pusher:subscribe", map[string]any{"channel": "#server-to-user-12345", "auth": ""})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"#server-to-user-12345","data":"{}"}`)
	s.publish(t, appBasic, "#server-to-user-12345", "note", `{"m":1}`)
	c.expectRaw(`{"event":"note","channel":"#server-to-user-12345","data":"{\"m\":1}"}`)
	// Not listed by GET /channels.
	status, body := s.api(t, appBasic, "GET", "/channels", nil, "")
	if status != 200 || mustJSON(t, body) != `{"channels":{}}` {
		t.Fatalf("channels: %d %v", status, body)
	}

	// Signin-derived presence: private-form auth, identity from user_data.
	other := s.connect(t, "key-basic")
	other.subscribePresence(appBasic, "presence-si", `{"user_id":"p"}`)
	c.signin(appBasic, ud)
	c.send("pusher:subscribe", map[string]any{"channel": "presence-si", "auth": channelAuth("key-basic", "secret-basic", c.socketID, "presence-si", "")})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-si","data":"{\"presence\":{\"ids\":[\"p\",\"12345\"],\"hash\":{\"p\":{},\"12345\":{\"name\":\"Ann\"}},\"count\":2}}"}`)
	other.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-si","data":"{\"user_id\":\"12345\",\"user_info\":{\"name\":\"Ann\"}}"}`)
	// Signing in again as the same id replaces user_info for later joins.
	c.signin(appBasic, `{"id":"12345","user_info":{"name":"Ann 2"}}`)
	c.send("pusher:subscribe", map[string]any{"channel": "presence-si3", "auth": channelAuth("key-basic", "secret-basic", c.socketID, "presence-si3", "")})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-si3","data":"{\"presence\":{\"ids\":[\"12345\"],\"hash\":{\"12345\":{\"name\":\"Ann 2\"}},\"count\":1}}"}`)
	// A bad signature there is 401.
	c.send("pusher:subscribe", map[string]any{"channel": "presence-si2", "auth": "key-basic:00"})
	c.expectSubError("presence-si2", "AuthError", 401)
}

func TestSigninFailuresClose4009(t *testing.T) {
	s := startServer(t, nil)
	cases := map[string]func(c *wsClient){
		"bad signature": func(c *wsClient) {
			c.send("pusher:signin", map[string]any{"auth": "key-basic:" + strings.Repeat("0", 64), "user_data": `{"id":"1"}`})
		},
		"wrong key":  func(c *wsClient) { c.sendSignin(testApp{"x", "key-full", "secret-basic"}, `{"id":"1"}`) },
		"no id":      func(c *wsClient) { c.sendSignin(appBasic, `{"user_info":{}}`) },
		"bad id":     func(c *wsClient) { c.sendSignin(appBasic, `{"id":"a b"}`) },
		"numeric id": func(c *wsClient) { c.sendSignin(appBasic, `{"id":1}`) },
		"not json":   func(c *wsClient) { c.sendSignin(appBasic, `nope`) },
		"no data":    func(c *wsClient) { c.sendText(`{"event":"pusher:signin"}`) },
		"other id": func(c *wsClient) {
			c.signin(appBasic, `{"id":"1"}`)
			c.sendSignin(appBasic, `{"id":"2"}`)
		},
	}
	for name, act := range cases {
		t.Run(name, func(t *testing.T) {
			c := s.connect(t, "key-basic")
			act(c)
			c.expectError(4009)
			c.expectClose(4009)
		})
	}
	s.checkOthersServed(t)
}

func TestTerminateConnections(t *testing.T) {
	s := startServer(t, nil)
	u1a, u1b, u2 := s.connect(t, "key-basic"), s.connect(t, "key-basic"), s.connect(t, "key-basic")
	u1a.signin(appBasic, `{"id":"u1"}`)
	u1b.signin(appBasic, `{"id":"u1"}`)
	u2.signin(appBasic, `{"id":"u2"}`)
	// A socket whose only identity is presence channel_data is not touched.
	p := s.connect(t, "key-basic")
	p.subscribePresence(appBasic, "presence-t", `{"user_id":"u1"}`)

	status, body := s.api(t, appBasic, "POST", "/users/u1/terminate_connections", nil, "{}")
	if status != 200 || len(body) != 0 {
		t.Fatalf("terminate: %d %v", status, body)
	}
	for _, c := range []*wsClient{u1a, u1b} {
		c.expectError(4009)
		c.expectClose(4009)
	}
	u2.pingPong()
	p.pingPong()
	// Unknown user: still 200 {}.
	if status, body := s.api(t, appBasic, "POST", "/users/nobody/terminate_connections", nil, "{}"); status != 200 || len(body) != 0 {
		t.Fatalf("terminate unknown: %d %v", status, body)
	}
}

func TestWatchlist(t *testing.T) {
	s := startServer(t, nil)
	on := s.connect(t, "key-full")
	on.signin(appFull, `{"id":"on"}`)

	w := s.connect(t, "key-full")
	w.signin(appFull, `{"id":"w","watchlist":["on","off"]}`)
	w.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"on\"]},{\"name\":\"offline\",\"user_ids\":[\"off\"]}]}"}`)
	w.pingPong()

	// A second connection of the watcher gets the transitions too.
	wb := s.connect(t, "key-full")
	wb.signin(appFull, `{"id":"w","watchlist":["on","off"]}`)
	wb.expectEvent("pusher_internal:watchlist_events")

	// off comes online on two sockets: one online frame.
	off1, off2 := s.connect(t, "key-full"), s.connect(t, "key-full")
	off1.signin(appFull, `{"id":"off"}`)
	w.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"off\"]}]}"}`)
	wb.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"off\"]}]}"}`)
	off2.signin(appFull, `{"id":"off"}`)
	w.expectNothing(150 * time.Millisecond)
	// offline only after the last connection closes.
	off1.conn.Close()
	w.expectNothing(200 * time.Millisecond)
	off2.conn.Close()
	w.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"offline\",\"user_ids\":[\"off\"]}]}"}`)
	on.conn.Close()
	w.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"offline\",\"user_ids\":[\"on\"]}]}"}`)

	// All offline: only the offline element.
	w2 := s.connect(t, "key-full")
	w2.signin(appFull, `{"id":"w2","watchlist":["on"]}`)
	w2.expectRaw(`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"offline\",\"user_ids\":[\"on\"]}]}"}`)

	// Too long: signin_success, the state of the first 2, then 4302; socket open.
	w3 := s.connect(t, "key-full")
	ud := `{"id":"w3","watchlist":["a","b","w"]}`
	w3.sendSignin(appFull, ud)
	w3.expectRaw(`{"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"w3\",\"watchlist\":[\"a\",\"b\",\"w\"]}"}}`)
	var sawErr, sawState bool
	for i := 0; i < 2; i++ {
		f := w3.next()
		switch f.Event {
		case "pusher:error":
			if !strings.HasPrefix(f.raw, `{"event":"pusher:error","data":{"code":4302,"message":"`) {
				t.Fatalf("error frame %s", f.raw)
			}
			sawErr = true
		case "pusher_internal:watchlist_events":
			if f.raw != `{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"offline\",\"user_ids\":[\"a\",\"b\"]}]}"}` {
				t.Fatalf("watchlist frame %s", f.raw)
			}
			sawState = true
		default:
			t.Fatalf("unexpected %s", f.raw)
		}
	}
	if !sawErr || !sawState {
		t.Fatal("missing 4302 error or watchlist state")
	}
	w3.pingPong()
	// w (not in the kept part of w3's list) coming online is not reported to w3.
	w3.expectNothing(50 * time.Millisecond)

	// App basic has watchlist off: ignored, no frame.
	b := s.connect(t, "key-basic")
	b.signin(appBasic, `{"id":"x","watchlist":["y"]}`)
	b.expectNothing(150 * time.Millisecond)
}

func TestUserAuthTimeout(t *testing.T) {
	s := startServer(t, nil)
	idle := s.connect(t, "key-auth")
	signed := s.connect(t, "key-auth")
	signed.signin(appAuth, `{"id":"ok"}`)
	private := s.connect(t, "key-auth")
	private.subscribePrivate(appAuth, "private-ok")
	public := s.connect(t, "key-auth")
	public.subscribe("public-only", nil)
	// A failed private subscription does not authorize the connection.
	failed := s.connect(t, "key-auth")
	failed.send("pusher:subscribe", map[string]any{"channel": "private-no", "auth": "key-auth:00"})
	failed.expectSubError("private-no", "AuthError", 401)

	start := time.Now()
	idle.expectError(4009)
	idle.expectClose(4009)
	public.expectError(4009)
	public.expectClose(4009)
	failed.expectError(4009)
	failed.expectClose(4009)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	time.Sleep(300 * time.Millisecond)
	signed.pingPong()
	private.pingPong()
}
