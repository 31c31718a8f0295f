package server

import (
	"encoding/json"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Per-connection and per-channel limits (docs/protocol.md §7) and the slow
// consumer rule (§4, §17.16).

func TestMaxChannelsPerConnection(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-full")
	for i := 0; i < 5; i++ {
		ch := "lim-" + itoa(i)
		c.subscribe(ch, nil)
		c.expectRaw(countFrame(ch, 1))
	}
	c.send("pusher:subscribe", map[string]any{"channel": "lim-5"})
	c.expectRaw(`{"event":"pusher:subscription_error","channel":"lim-5","data":"{\"type\":\"LimitReached\",\"error\":\"Too many channels on this connection\",\"status\":4100}"}`)
	// Re-subscribing to a held channel is still fine at the limit.
	c.subscribe("lim-0", nil)
	// Unsubscribing frees a slot.
	c.send("pusher:unsubscribe", map[string]any{"channel": "lim-1"})
	c.subscribe("lim-5", nil)
	c.expectRaw(countFrame("lim-5", 1))
	c.pingPong()
	// The refused channel received nothing meanwhile.
	s.publish(t, appFull, "lim-1", "e", "x")
	c.expectNothing(100 * time.Millisecond)
}

func TestPresenceMemberLimit(t *testing.T) {
	s := startServer(t, nil)
	ch := "presence-full"
	var users []*wsClient
	for i := 1; i <= 3; i++ {
		c := s.connect(t, "key-full")
		c.subscribePresence(appFull, ch, `{"user_id":"`+itoa(i)+`"}`)
		for _, u := range users {
			u.expectEvent("pusher_internal:member_added")
		}
		users = append(users, c)
	}
	// A fourth distinct user is refused.
	d := s.connect(t, "key-full")
	cd := `{"user_id":"4"}`
	d.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-full", "secret-full", d.socketID, ch, cd), "channel_data": cd})
	d.expectRaw(`{"event":"pusher:subscription_error","channel":"presence-full","data":"{\"type\":\"LimitReached\",\"error\":\"Presence channel member limit reached\",\"status\":4100}"}`)
	d.pingPong()
	// Signature is checked before limits: a bad signature gets 401, not 4100.
	d.send("pusher:subscribe", map[string]any{"channel": ch, "auth": "key-full:" + strings.Repeat("ab", 32), "channel_data": cd})
	d.expectRaw(`{"event":"pusher:subscription_error","channel":"presence-full","data":"{\"type\":\"AuthError\",\"error\":\"Invalid signature\",\"status\":401}"}`)
	// An existing user's extra socket still joins, announced to nobody.
	e := s.connect(t, "key-full")
	f := e.subscribePresence(appFull, ch, `{"user_id":"2"}`)
	if !strings.Contains(f.dataString(t), `"count":3`) {
		t.Fatalf("succeeded %s", f.raw)
	}
	for _, u := range users {
		u.expectNothing(50 * time.Millisecond)
	}
	// No member events reached anyone for the refused user.
	if status, body := s.api(t, appFull, "GET", "/channels/"+ch, url1("info", "user_count"), ""); status != 200 || mustJSON(t, body) != `{"occupied":true,"user_count":3}` {
		t.Fatalf("channel info %d %v", status, body)
	}
	// Once a user leaves, the fourth user fits.
	users[0].send("pusher:unsubscribe", map[string]any{"channel": ch})
	users[1].expectEvent("pusher_internal:member_removed")
	d.subscribePresence(appFull, ch, cd)
}

func TestPresenceUserInfoAndIDLimits(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	ch := "presence-big"
	// user_info serialised over 1024 bytes → 4301.
	info := `{"p":"` + strings.Repeat("x", 1024-len(`{"p":""}`)+1) + `"}`
	cd := `{"user_id":"1","user_info":` + info + `}`
	c.send("pusher:subscribe", map[string]any{"channel": ch, "auth": channelAuth("key-basic", "secret-basic", c.socketID, ch, cd), "channel_data": cd})
	c.expectSubError(ch, "LimitReached", 4301)
	// Exactly 1024 bytes is fine.
	info = `{"p":"` + strings.Repeat("x", 1024-len(`{"p":""}`)) + `"}`
	c.subscribePresence(appBasic, ch, `{"user_id":"1","user_info":`+info+`}`)
	// user_id over 128 characters → 4301.
	cd = `{"user_id":"` + strings.Repeat("u", 129) + `"}`
	c.send("pusher:subscribe", map[string]any{"channel": "presence-long", "auth": channelAuth("key-basic", "secret-basic", c.socketID, "presence-long", cd), "channel_data": cd})
	c.expectSubError("presence-long", "LimitReached", 4301)
	// A bad signature is reported before the size limit.
	cd = `{"user_id":"1","user_info":{"p":"` + strings.Repeat("x", 2000) + `"}}`
	c.send("pusher:subscribe", map[string]any{"channel": "presence-long", "auth": "key-basic:00", "channel_data": cd})
	c.expectSubError("presence-long", "AuthError", 401)
	c.pingPong()
}

func TestSlowConsumerClosed4100(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_QUEUE_BYTES": "65536"})
	// The slow client's receive buffer is fixed small before connecting, so
	// the kernel cannot absorb the burst and the server-side queue fills.
	slow := s.dialSmallBuffer(t, "/app/key-basic?protocol=7", 4096)
	slow.expectEvent("pusher:connection_established")
	slow.subscribe("firehose", nil)
	healthy := s.connect(t, "key-basic")
	healthy.subscribe("firehose", nil)

	// Each event is triggered only after healthy received the previous one,
	// so healthy never has more than one event queued; slow never reads.
	const events = 800 // 6.4 MB: more than 64 KiB + the 4 MiB kernel send buffer maximum
	payload := strings.Repeat("x", 8000)
	for i := 0; i < events; i++ {
		data := itoa(i) + ":" + payload
		b, _ := json.Marshal(map[string]any{"name": "n", "channel": "firehose", "data": data})
		status, body := s.signedRequest(t, "POST", "/apps/100001/events", "key-basic", "secret-basic", nil, b)
		if status != 200 || len(body) != 0 {
			t.Fatalf("trigger %d: %d %v", i, status, body)
		}
		healthy.expectRaw(`{"event":"n","channel":"firehose","data":"` + data + `"}`)
	}
	// The slow consumer: a prefix of the events in order, then pusher:error
	// 4100 and close 4100. Reading the close frame writes the close reply:
	// renew the write deadline its subscribe set, which a loaded machine's
	// 800 triggers can outlast.
	slow.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	sawError, next := false, 0
	for {
		f, err := slow.read(5 * time.Second)
		if err != nil {
			var ce errClosed
			if !asError(err, &ce) || ce.code != 4100 {
				t.Fatalf("slow consumer ended with %v after %d events, want close 4100", err, next)
			}
			break
		}
		if f.Event == "pusher:error" && !sawError {
			if !strings.HasPrefix(f.raw, `{"event":"pusher:error","data":{"code":4100,"message":"`) {
				t.Fatalf("error frame %s", f.raw)
			}
			sawError = true
			continue
		}
		if sawError || f.raw != `{"event":"n","channel":"firehose","data":"`+itoa(next)+":"+payload+`"}` {
			t.Fatalf("unexpected frame %.80s (next %d, error seen %v)", f.raw, next, sawError)
		}
		next++
	}
	if !sawError || next >= events {
		t.Fatalf("error seen %v after %d of %d events", sawError, next, events)
	}
	healthy.pingPong()
	s.checkOthersServed(t)
}

// dialSmallBuffer dials with SO_RCVBUF set before the TCP handshake.
func (s *testServer) dialSmallBuffer(t testing.TB, path string, rcvbuf int) *wsClient {
	t.Helper()
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
		if err != nil {
			return err
		}
		return serr
	}}
	return dialWith(t, ws.Dialer{Timeout: 5 * time.Second, NetDial: nd.DialContext}, s.wsURL+path)
}
