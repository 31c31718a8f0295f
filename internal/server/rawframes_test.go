package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Raw-frame tests of the connection lifecycle (docs/protocol.md §1–§4).

var socketIDPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})$`)

func TestConnectionEstablishedExact(t *testing.T) {
	s := startServer(t, nil)
	for _, path := range []string{"/app/key-basic?protocol=7&client=js&version=8.6.0&flash=false", "/key-basic", "/app/key-basic?protocol=5", "/key-basic?protocol=6"} {
		c := s.dial(t, path, nil)
		f := c.next()
		var d struct {
			SocketID string `json:"socket_id"`
		}
		if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil {
			t.Fatal(err)
		}
		if !socketIDPattern.MatchString(d.SocketID) {
			t.Fatalf("%s: socket_id %q", path, d.SocketID)
		}
		want := `{"event":"pusher:connection_established","data":"{\"socket_id\":\"` + d.SocketID + `\",\"activity_timeout\":120}"}`
		if f.raw != want {
			t.Fatalf("%s:\n got %s\nwant %s", path, f.raw, want)
		}
		c.socketID = d.SocketID
		c.pingPong()
	}
	// socket ids are unique.
	a, b := s.connect(t, "key-basic"), s.connect(t, "key-basic")
	if a.socketID == b.socketID {
		t.Fatalf("duplicate socket_id %s", a.socketID)
	}
}

func TestConnectionEstablishedActivityTimeoutSetting(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ACTIVITY_TIMEOUT": "7"})
	c := s.dial(t, "/app/key-basic?protocol=7", nil)
	f := c.expectEvent("pusher:connection_established")
	if !strings.HasSuffix(f.raw, `\"activity_timeout\":7}"}`) {
		t.Fatalf("frame %s", f.raw)
	}
}

// expectRejected reads the exact pusher:error frame of a handshake failure
// and then the close frame with the same code.
func expectRejected(t *testing.T, c *wsClient, code int) {
	t.Helper()
	f := c.expectError(code)
	if !strings.HasPrefix(f.raw, `{"event":"pusher:error","data":{"code":`) {
		t.Fatalf("error frame %s", f.raw)
	}
	c.expectClose(code)
}

func TestHandshakeFailures(t *testing.T) {
	s := startServer(t, nil)
	cases := []struct {
		name, path string
		header     http.Header
		code       int
	}{
		{"unknown path", "/app/", nil, 4005},
		{"nested path", "/app/key-basic/extra?protocol=7", nil, 4005},
		{"root", "/", nil, 4005},
		{"missing protocol", "/app/key-basic", nil, 4008},
		{"missing protocol with version", "/app/key-basic?client=js&version=8.6.0", nil, 4008},
		{"protocol 8", "/app/key-basic?protocol=8", nil, 4007},
		{"protocol 4", "/app/key-basic?protocol=4", nil, 4007},
		{"protocol abc", "/app/key-basic?protocol=abc", nil, 4007},
		{"legacy protocol abc", "/key-basic?protocol=abc", nil, 4007},
		{"protocol before key", "/app/nope?protocol=8", nil, 4007},
		{"unknown key", "/app/nope?protocol=7", nil, 4001},
		{"unknown key legacy", "/nope", nil, 4001},
		{"disabled app", "/app/key-off?protocol=7", nil, 4003},
		{"origin not allowed", "/app/key-quota?protocol=7", http.Header{"Origin": {"https://evil.example"}}, 4009},
		{"origin missing", "/app/key-quota?protocol=7", nil, 4009},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectRejected(t, s.dial(t, tc.path, tc.header), tc.code)
		})
	}
	s.checkOthersServed(t)
}

func TestAppConnectionQuota(t *testing.T) {
	s := startServer(t, nil)
	good := http.Header{"Origin": {"https://good.example"}}
	first := s.dial(t, "/app/key-quota?protocol=7", good)
	first.expectEvent("pusher:connection_established")
	expectRejected(t, s.dial(t, "/app/key-quota?protocol=7", good), 4004)
	first.pingPong()
	// Other apps are not affected by this app's quota.
	s.checkOthersServed(t)
	// The slot is released when the first connection goes away.
	first.conn.Close()
	testkit.Eventually(t, 3*time.Second, "the quota slot to be released", func() bool {
		return s.dial(t, "/app/key-quota?protocol=7", good).next().Event == "pusher:connection_established"
	})
}

func TestNodeCapacity(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_MAX_CONNECTIONS": "1"})
	first := s.connect(t, "key-basic")
	expectRejected(t, s.dial(t, "/app/key-basic?protocol=7", nil), 4100)
	first.subscribe("cap", nil)
	s.publish(t, appBasic, "cap", "e", "x")
	first.expectRaw(`{"event":"e","channel":"cap","data":"x"}`)
}

func TestClientPingPong(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.sendText(`{"event":"pusher:ping","data":{}}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	// data as a string, and without data, are pings too.
	c.sendText(`{"event":"pusher:ping","data":"{}"}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	c.sendText(`{"event":"pusher:ping"}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	// An unsolicited pusher:pong gets no reply.
	c.sendText(`{"event":"pusher:pong","data":{}}`)
	c.expectNothing(100 * time.Millisecond)
	c.pingPong()
}

func TestWebSocketPingControlFrame(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientMessage(c.rw, ws.OpPing, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(c.rw)
	if err != nil {
		t.Fatal(err)
	}
	if h.OpCode != ws.OpPong || h.Masked || !h.Fin {
		t.Fatalf("got header %+v, want an unmasked pong", h)
	}
	payload := make([]byte, h.Length)
	if _, err := readFull(c.rw, payload); err != nil {
		t.Fatal(err)
	}
	if string(payload) != "hello" {
		t.Fatalf("pong payload %q", payload)
	}
	c.pingPong()
}

func TestServerPingAndPongTimeout(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ACTIVITY_TIMEOUT": "1", "PUSHI_PONG_TIMEOUT": "1"})

	silent := s.connect(t, "key-basic")
	answering := s.connect(t, "key-basic")

	// Both get a server ping within the activity timeout (jittered in [T/2, T]).
	start := time.Now()
	silent.expectRaw(`{"event":"pusher:ping","data":"{}"}`)
	answering.expectRaw(`{"event":"pusher:ping","data":"{}"}`)
	answering.sendText(`{"event":"pusher:pong","data":{}}`)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("ping after %v", d)
	}
	// The silent one is closed with 4201 after the pong timeout.
	f := silent.expectError(4201)
	if f.raw != `{"event":"pusher:error","data":{"code":4201,"message":"Pong reply not received"}}` {
		t.Fatalf("frame %s", f.raw)
	}
	silent.expectClose(4201)

	// The answering one stays open: it is pinged again and keeps answering.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		f, err := answering.read(time.Until(deadline))
		if err != nil {
			break
		}
		if f.raw != `{"event":"pusher:ping","data":"{}"}` {
			t.Fatalf("unexpected frame %s", f.raw)
		}
		answering.sendText(`{"event":"pusher:pong","data":{}}`)
	}
	answering.pingPongAmidPings()
}

// pingPongAmidPings is pingPong on a socket that the server may ping
// (activity timeout 1 s): server pings are answered and skipped.
func (c *wsClient) pingPongAmidPings() {
	c.t.Helper()
	c.sendText(`{"event":"pusher:ping","data":{}}`)
	for {
		f := c.next()
		if f.raw == `{"event":"pusher:pong","data":"{}"}` {
			return
		}
		if f.raw != `{"event":"pusher:ping","data":"{}"}` {
			c.t.Fatalf("unexpected frame %s", f.raw)
		}
		c.sendText(`{"event":"pusher:pong","data":{}}`)
	}
}

func TestWebSocketPongCountsAsActivity(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ACTIVITY_TIMEOUT": "1", "PUSHI_PONG_TIMEOUT": "1"})
	c := s.connect(t, "key-basic")
	c.expectRaw(`{"event":"pusher:ping","data":"{}"}`)
	// Answer with a WebSocket-level pong instead of pusher:pong.
	if err := wsutil.WriteClientMessage(c.rw, ws.OpPong, nil); err != nil {
		t.Fatal(err)
	}
	// No 4201 within the pong timeout: at most another ping.
	f, err := c.read(1500 * time.Millisecond)
	if err == nil && f.raw != `{"event":"pusher:ping","data":"{}"}` {
		t.Fatalf("unexpected frame %s", f.raw)
	}
	c.pingPongAmidPings()
}

func readFull(r interface{ Read([]byte) (int, error) }, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestMalformedInputKeepsSocketOpen(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	inputs := []string{
		`not json`,
		`{"event":`,
		`[]`,
		`"pusher:ping"`,
		`{}`,
		`{"data":{}}`,
		`{"event":null}`,
		`{"event":42,"data":{}}`,
		`{"event":{"a":1}}`,
		`{"event":"pusher:subscribe"}`,
		`{"event":"pusher:subscribe","data":null}`,
		`{"event":"pusher:subscribe","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":""}}`,
		`{"event":"pusher:subscribe","data":{"channel":null}}`,
		`{"event":"pusher:subscribe","data":{"channel":""}}`,
		`{"event":"pusher:subscribe","data":{"channel":42}}`,
		`{"event":"pusher:subscribe","data":{"channel":["a"]}}`,
		`{"event":"pusher:subscribe","data":42}`,
		`{"event":"pusher:subscribe","data":"not json"}`,
		`{"event":"pusher:subscribe","data":"42"}`,
		`{"event":"pusher:unsubscribe"}`,
		`{"event":"pusher:unsubscribe","data":{}}`,
		`{"event":"pusher:unsubscribe","data":{"channel":7}}`,
		`{"event":"pusher:signout","data":{}}`,
		`{"event":"hello","data":{}}`,
		`{"event":"pusher_internal:subscription_succeeded","channel":"x","data":{}}`,
	}
	for _, in := range inputs {
		c.sendText(in)
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("input %s: %v", in, err)
		}
		if f.Event != "pusher:error" || !strings.HasPrefix(f.raw, `{"event":"pusher:error","data":{"code":null,"message":"`) {
			t.Fatalf("input %s: got %s, want pusher:error code null", in, f.raw)
		}
		c.pingPong()
		s.checkOthersServed(t)
	}
	// Unsubscribing from a channel the socket does not hold is ignored.
	c.sendText(`{"event":"pusher:unsubscribe","data":{"channel":"never"}}`)
	c.pingPong()
	// data as a JSON string is parsed once.
	c.sendText(`{"event":"pusher:subscribe","data":"{\"channel\":\"as-string\"}"}`)
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"as-string","data":"{}"}`)
	s.checkOthersServed(t)
}

func TestBinaryFrameClose1003(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.subscribe("bin", nil)
	if err := wsutil.WriteClientBinary(c.rw, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	c.expectClose(1003)
	s.checkOthersServed(t)
}

// Reserved opcodes, data (0x3-0x7) and control (0xB-0xF), fail the
// connection with 1002 (RFC 6455 §5.2), unlike a binary message (1003).
func TestReservedOpcodesClose1002(t *testing.T) {
	s := startServer(t, nil)
	for _, op := range []ws.OpCode{0x3, 0x7, 0xB, 0xF} {
		c := s.connect(t, "key-basic")
		if err := wsutil.WriteClientMessage(c.rw, op, []byte("x")); err != nil {
			t.Fatal(err)
		}
		c.expectClose(1002)
	}
	s.checkOthersServed(t)
}

func TestOversizedMessageClose1009(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_MAX_MESSAGE_BYTES": "1024"})
	c := s.connect(t, "key-basic")
	// At the limit is fine.
	pad := strings.Repeat("x", 1024-len(`{"event":"pusher:ping","data":{"p":""}}`))
	c.sendText(`{"event":"pusher:ping","data":{"p":"` + pad + `"}}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	c.sendText(`{"event":"pusher:ping","data":{"p":"` + pad + `x"}}`)
	c.expectClose(1009)
	s.checkOthersServed(t)
}

// writeFragments sends one text message as several WebSocket frames.
func (c *wsClient) writeFragments(parts ...string) {
	c.t.Helper()
	for i, p := range parts {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		fr := ws.MaskFrameInPlace(ws.NewFrame(op, i == len(parts)-1, []byte(p)))
		if err := ws.WriteFrame(c.rw, fr); err != nil {
			c.t.Fatal(err)
		}
	}
}

func TestFragmentedMessages(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_MAX_MESSAGE_BYTES": "1024"})
	c := s.connect(t, "key-basic")
	c.writeFragments(`{"event":"pusher:`, `ping","data"`, `:{}}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	// A control frame between fragments is allowed.
	first := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, false, []byte(`{"event":"pusher:ping",`)))
	if err := ws.WriteFrame(c.rw, first); err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientMessage(c.rw, ws.OpPing, nil); err != nil {
		t.Fatal(err)
	}
	fr := ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, []byte(`"data":{}}`)))
	if err := ws.WriteFrame(c.rw, fr); err != nil {
		t.Fatal(err)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if h, err := ws.ReadHeader(c.rw); err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("want pong control frame, got %+v %v", h, err)
	}
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	// Fragments adding up to more than the limit: close 1009.
	c.writeFragments(`{"event":"pusher:ping","data":{"p":"`+strings.Repeat("x", 600), strings.Repeat("y", 600)+`"}}`)
	c.expectClose(1009)
	s.checkOthersServed(t)
}

func TestBadInputThenOthersServed(t *testing.T) {
	// Each bad input on one socket leaves the server serving a second client.
	s := startServer(t, map[string]string{"PUSHI_MAX_MESSAGE_BYTES": "1024"})
	for _, in := range []string{`{"event":"pusher:subscribe"}`, `{"event":"pusher:unsubscribe"}`, `{"event":"pusher:subscribe","data":{"channel":null}}`, `{"event":7}`, `}{`} {
		c := s.connect(t, "key-basic")
		c.sendText(in)
		c.expectError(nil)
		s.checkOthersServed(t)
		c.pingPong()
	}
}

// Subscriptions (docs/protocol.md §6–§7), cache channels (§10),
// subscription_count (§13) and client events (§8).

func TestSubscribePublicExact(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	// pusher-js sends auth:"" for public channels; auth is ignored there.
	c.send("pusher:subscribe", map[string]any{"channel": "my-channel", "auth": ""})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}`)
	c.send("pusher:subscribe", map[string]any{"channel": "other=@,.;_-", "auth": "garbage"})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"other=@,.;_-","data":"{}"}`)
	// Names that merely contain a private prefix are public (anchored test).
	c.send("pusher:subscribe", map[string]any{"channel": "x-private-y"})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"x-private-y","data":"{}"}`)
	// Idempotent re-subscribe answers succeeded again.
	c.send("pusher:subscribe", map[string]any{"channel": "my-channel"})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}`)
	s.publish(t, appBasic, "my-channel", "e", "once")
	c.expectRaw(`{"event":"e","channel":"my-channel","data":"once"}`)
	c.expectNothing(100 * time.Millisecond)
	// Unsubscribe: no reply, no more events.
	c.send("pusher:unsubscribe", map[string]any{"channel": "my-channel"})
	c.pingPong()
	s.publish(t, appBasic, "my-channel", "e", "gone")
	c.expectNothing(150 * time.Millisecond)
}

func TestSubscribePrivateAuth(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.send("pusher:subscribe", map[string]any{"channel": "private-x", "auth": channelAuth("key-basic", "secret-basic", c.socketID, "private-x", "")})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"private-x","data":"{}"}`)

	bad := []struct{ name, auth string }{
		{"wrong secret", channelAuth("key-basic", "nope", c.socketID, "private-y", "")},
		{"wrong socket", channelAuth("key-basic", "secret-basic", "1.2", "private-y", "")},
		{"wrong key prefix", channelAuth("key-full", "secret-basic", c.socketID, "private-y", "")},
		{"no prefix", strings.SplitN(channelAuth("key-basic", "secret-basic", c.socketID, "private-y", ""), ":", 2)[1]},
		{"empty", ""},
	}
	for _, b := range bad {
		c.send("pusher:subscribe", map[string]any{"channel": "private-y", "auth": b.auth})
		c.expectRaw(`{"event":"pusher:subscription_error","channel":"private-y","data":"{\"type\":\"AuthError\",\"error\":\"Invalid signature\",\"status\":401}"}`)
	}
	// Missing auth entirely.
	c.send("pusher:subscribe", map[string]any{"channel": "private-encrypted-y"})
	c.expectSubError("private-encrypted-y", "AuthError", 401)
	c.subscribePrivate(appBasic, "private-encrypted-y")
	// auth of the wrong type.
	c.send("pusher:subscribe", map[string]any{"channel": "private-z", "auth": 5})
	c.expectSubError("private-z", "InvalidData", 400)
	c.pingPong()

	// The failed subscription receives nothing; the good one does.
	s.publish(t, appBasic, "private-y", "e", "no")
	s.publish(t, appBasic, "private-x", "e", "yes")
	c.expectRaw(`{"event":"e","channel":"private-x","data":"yes"}`)
}

func TestSubscribeInvalidNames(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	for _, name := range []string{"bad name", "bad/name", "a#b", "#other", "#server-to-user-", "ü", strings.Repeat("a", 201), "private-" + strings.Repeat("a", 193)} {
		c.send("pusher:subscribe", map[string]any{"channel": name})
		c.expectSubError(name, "LimitReached", 4009)
	}
	// 200 characters is the longest valid name.
	long := strings.Repeat("b", 200)
	c.send("pusher:subscribe", map[string]any{"channel": long})
	c.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"` + long + `","data":"{}"}`)
	c.pingPong()
}

func TestSubscribeChannelDataNotString(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	ch := "presence-room"
	for _, cd := range []any{map[string]any{"user_id": "1"}, 42, true} {
		c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, `{"user_id":"1"}`), "channel_data": cd})
		c.expectSubError(ch, "InvalidData", 400)
	}
	// Valid signature over channel_data that is not JSON.
	cd := `not json`
	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, cd), "channel_data": cd})
	c.expectSubError(ch, "InvalidData", 400)
	// Signed channel_data with an unusable user_id or user_info.
	for _, cd := range []string{`[]`, `{}`, `{"user_id":null}`, `{"user_id":""}`, `{"user_id":1.5}`, `{"user_id":true}`, `{"user_id":{"a":1}}`, `{"user_id":"1","user_info":"x"}`} {
		c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, cd), "channel_data": cd})
		c.expectSubError(ch, "InvalidData", 400)
	}
	// Presence without channel_data on a socket that is not signed in.
	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, "")})
	c.expectSubError(ch, "InvalidData", 400)
	c.pingPong()
}

func TestServerToUserNeedsSignin(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.send("pusher:subscribe", map[string]any{"channel": "#server-to-user-x", "auth": ""})
	c.expectSubError("#server-to-user-x", "AuthError", 403)
	c.signin(appBasic, `{"id":"y"}`)
	c.send("pusher:subscribe", map[string]any{"channel": "#server-to-user-x", "auth": ""})
	c.expectSubError("#server-to-user-x", "AuthError", 403)
	c.pingPong()
}

func TestCacheChannel(t *testing.T) {
	s := startServer(t, nil)
	a := s.connect(t, "key-basic")
	a.send("pusher:subscribe", map[string]any{"channel": "cache-x"})
	a.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"cache-x","data":"{}"}`)
	a.expectRaw(`{"event":"pusher:cache_miss","channel":"cache-x"}`)

	// Trigger excluding a: live delivery skips a, the cache still holds it.
	status, body := s.trigger(t, "key-basic", "secret-basic", "100001", map[string]any{"name": "price", "channel": "cache-x", "data": `{"v":1}`, "socket_id": a.socketID})
	if status != 200 || len(body) != 0 {
		t.Fatalf("trigger: %d %v", status, body)
	}
	a.expectNothing(150 * time.Millisecond)

	b := s.connect(t, "key-basic")
	b.send("pusher:subscribe", map[string]any{"channel": "cache-x"})
	b.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"cache-x","data":"{}"}`)
	b.expectRaw(`{"event":"price","channel":"cache-x","data":"{\"v\":1}"}`)

	// The excluded socket gets the cached copy on a later subscribe.
	a.send("pusher:unsubscribe", map[string]any{"channel": "cache-x"})
	a.send("pusher:subscribe", map[string]any{"channel": "cache-x"})
	a.expectRaw(`{"event":"pusher_internal:subscription_succeeded","channel":"cache-x","data":"{}"}`)
	a.expectRaw(`{"event":"price","channel":"cache-x","data":"{\"v\":1}"}`)

	// A newer trigger replaces the cached event.
	s.publish(t, appBasic, "cache-x", "price", "2")
	a.expectRaw(`{"event":"price","channel":"cache-x","data":"2"}`)
	b.expectRaw(`{"event":"price","channel":"cache-x","data":"2"}`)
	c := s.connect(t, "key-basic")
	c.subscribe("cache-x", nil)
	c.expectRaw(`{"event":"price","channel":"cache-x","data":"2"}`)
	c.expectNothing(100 * time.Millisecond)

	// Private cache channels behave alike.
	c.subscribePrivate(appBasic, "private-cache-y")
	c.expectRaw(`{"event":"pusher:cache_miss","channel":"private-cache-y"}`)
}

func TestCacheNotWrittenByClientEvents(t *testing.T) {
	s := startServer(t, nil)
	a, b := s.connect(t, "key-full"), s.connect(t, "key-full")
	miss := `{"event":"pusher:cache_miss","channel":"private-cache-c"}`
	a.subscribePrivate(appFull, "private-cache-c")
	a.expectUnordered(miss, countFrame("private-cache-c", 1))
	b.subscribePrivate(appFull, "private-cache-c")
	b.expectUnordered(miss, countFrame("private-cache-c", 2))
	a.expectRaw(countFrame("private-cache-c", 2))
	b.sendText(`{"event":"client-x","channel":"private-cache-c","data":"hi"}`)
	a.expectRaw(`{"event":"client-x","channel":"private-cache-c","data":"hi"}`)
	c := s.connect(t, "key-full")
	c.subscribePrivate(appFull, "private-cache-c")
	c.expectUnordered(miss, countFrame("private-cache-c", 3))
}

func countFrame(channel string, n int) string {
	return `{"event":"pusher_internal:subscription_count","channel":"` + channel + `","data":"{\"subscription_count\":` + itoa(n) + `}"}`
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSubscriptionCount(t *testing.T) {
	s := startServer(t, nil)
	a, b := s.connect(t, "key-full"), s.connect(t, "key-full")
	a.subscribe("counted", nil)
	a.expectRaw(countFrame("counted", 1))
	b.subscribe("counted", nil)
	b.expectRaw(countFrame("counted", 2))
	a.expectRaw(countFrame("counted", 2))
	b.send("pusher:unsubscribe", map[string]any{"channel": "counted"})
	a.expectRaw(countFrame("counted", 1))
	b.expectNothing(100 * time.Millisecond)
	b.subscribe("counted", nil)
	b.expectRaw(countFrame("counted", 2))
	a.expectRaw(countFrame("counted", 2))
	// Disconnect counts as unsubscribe.
	b.conn.Close()
	a.expectRaw(countFrame("counted", 1))

	// Private channels count too; presence channels do not.
	a.subscribePrivate(appFull, "private-counted")
	a.expectRaw(countFrame("private-counted", 1))
	a.subscribePresence(appFull, "presence-nocount", `{"user_id":"1"}`)
	a.expectNothing(150 * time.Millisecond)

	// Server-to-user channels raise no count frames.
	a.signin(appFull, `{"id":"cnt"}`)
	a.subscribe("#server-to-user-cnt", nil)
	a.expectNothing(150 * time.Millisecond)

	// App basic has subscription_count off.
	c := s.connect(t, "key-basic")
	c.subscribe("counted", nil)
	c.expectNothing(100 * time.Millisecond)
}

func TestClientEvents(t *testing.T) {
	s := startServer(t, nil)
	a, b, c := s.connect(t, "key-full"), s.connect(t, "key-full"), s.connect(t, "key-full")
	for _, x := range []*wsClient{a, b} {
		x.subscribePrivate(appFull, "private-chat")
		x.expectEvent("pusher_internal:subscription_count")
	}
	a.expectEvent("pusher_internal:subscription_count")
	c.subscribePrivate(appFull, "private-other")
	c.expectEvent("pusher_internal:subscription_count")

	// Object data is forwarded as compact JSON; string data as is.
	a.sendText(`{"event":"client-typing","channel":"private-chat","data":{"on": true}}`)
	b.expectRaw(`{"event":"client-typing","channel":"private-chat","data":"{\"on\":true}"}`)
	a.sendText(`{"event":"client-typing","channel":"private-chat","data":"raw text"}`)
	b.expectRaw(`{"event":"client-typing","channel":"private-chat","data":"raw text"}`)
	a.expectNothing(100 * time.Millisecond) // never echoed
	c.expectNothing(10 * time.Millisecond)  // other channel

	// Presence: user_id of the sender's membership, integer kept.
	a.subscribePresence(appFull, "presence-chat", `{"user_id":7}`)
	b.subscribePresence(appFull, "presence-chat", `{"user_id":"8"}`)
	a.expectEvent("pusher_internal:member_added")
	a.sendText(`{"event":"client-hi","channel":"presence-chat","data":{"x":1}}`)
	b.expectRaw(`{"event":"client-hi","channel":"presence-chat","data":"{\"x\":1}","user_id":7}`)
	b.sendText(`{"event":"client-hi","channel":"presence-chat","data":"y"}`)
	a.expectRaw(`{"event":"client-hi","channel":"presence-chat","data":"y","user_id":"8"}`)
	b.expectNothing(100 * time.Millisecond)

	// Refusals: pusher:error code null, socket open, nothing delivered.
	a.subscribe("public-chat", nil)
	a.expectEvent("pusher_internal:subscription_count")
	b.subscribe("public-chat", nil)
	b.expectEvent("pusher_internal:subscription_count")
	a.expectEvent("pusher_internal:subscription_count")
	a.subscribePrivate(appFull, "private-encrypted-chat")
	a.expectEvent("pusher_internal:subscription_count")
	b.subscribePrivate(appFull, "private-encrypted-chat")
	b.expectEvent("pusher_internal:subscription_count")
	a.expectEvent("pusher_internal:subscription_count")
	for _, in := range []string{
		`{"event":"client-x","channel":"public-chat","data":{}}`,
		`{"event":"client-x","channel":"private-encrypted-chat","data":{}}`,
		`{"event":"client-x","channel":"private-other","data":{}}`,
		`{"event":"client-x","channel":"private-never","data":{}}`,
		`{"event":"client-x","data":{}}`,
		`{"event":"client-x","channel":"#server-to-user-1","data":{}}`,
		`{"event":"client-` + strings.Repeat("x", 200) + `","channel":"private-chat","data":{}}`,
		`{"event":"client-big","channel":"private-chat","data":"` + strings.Repeat("x", 10241) + `"}`,
	} {
		a.sendText(in)
		a.expectError(nil)
		a.pingPong()
	}
	b.expectNothing(100 * time.Millisecond)
	c.expectNothing(10 * time.Millisecond)
	// Anchored prefix: myclient-x is not a client event.
	a.sendText(`{"event":"myclient-x","channel":"private-chat","data":{}}`)
	a.expectError(nil)

	// App basic has client events off.
	d, e := s.connect(t, "key-basic"), s.connect(t, "key-basic")
	d.subscribePrivate(appBasic, "private-chat")
	e.subscribePrivate(appBasic, "private-chat")
	d.sendText(`{"event":"client-x","channel":"private-chat","data":{}}`)
	d.expectError(nil)
	d.pingPong()
	e.expectNothing(100 * time.Millisecond)
}

func TestClientEventRateLimit(t *testing.T) {
	s := startServer(t, nil)
	a, b := s.connect(t, "key-full"), s.connect(t, "key-full")
	a.subscribePresence(appFull, "presence-rate", `{"user_id":"a"}`)
	b.subscribePresence(appFull, "presence-rate", `{"user_id":"b"}`)
	a.expectEvent("pusher_internal:member_added")
	// Burst 5: the 6th and 7th are refused with 4301, the socket stays open.
	for i := 0; i < 7; i++ {
		a.sendText(`{"event":"client-n","channel":"presence-rate","data":"` + itoa(i) + `"}`)
	}
	a.expectRaw(`{"event":"pusher:error","data":{"code":4301,"message":"Client event rate limit exceeded"}}`)
	a.expectRaw(`{"event":"pusher:error","data":{"code":4301,"message":"Client event rate limit exceeded"}}`)
	a.pingPong()
	for i := 0; i < 5; i++ {
		b.expectRaw(`{"event":"client-n","channel":"presence-rate","data":"` + itoa(i) + `","user_id":"a"}`)
	}
	b.expectNothing(100 * time.Millisecond)
	// Tokens refill (5/s).
	time.Sleep(300 * time.Millisecond)
	a.sendText(`{"event":"client-n","channel":"presence-rate","data":"later"}`)
	b.expectRaw(`{"event":"client-n","channel":"presence-rate","data":"later","user_id":"a"}`)
	a.pingPong()
}
