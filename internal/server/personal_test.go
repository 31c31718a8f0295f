package server

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// Personal channels and live follow re-sync (docs/features.md §3) over real
// WebSocket connections; follows go through the signed REST API (§6).

func personalSucceeded(channel, data string) string {
	b, _ := json.Marshal(data)
	return `{"event":"pusher_internal:subscription_succeeded","channel":"` + channel + `","data":` + string(b) + `}`
}

func aliasChanged(channel, alias, added, removed string) string {
	return `{"event":"pushi_internal:alias_changed","channel":"` + channel + `","data":"{\"alias\":` + alias + `,\"added\":` + added + `,\"removed\":` + removed + `}"}`
}

// followAPI follows (or unfollows) channel for user as app a and wants 200.
func (s *testServer) followAPI(t *testing.T, a testApp, follow bool, user, channel string) map[string]any {
	t.Helper()
	path := "/subscribe"
	if !follow {
		path = "/unsubscribe"
	}
	status, body := s.api(t, a, "POST", path, nil, `{"user_id":"`+user+`","event":"`+channel+`"}`)
	if status != 200 {
		t.Fatalf("POST %s %s for %s: %d %v", path, channel, user, status, body)
	}
	return body
}

func TestPersonalAuthorisation(t *testing.T) {
	s := startServer(t, nil)
	const empty = `{"alias":[],"events":[]}`

	// 1. Signed in as the id, auth "" (the pusher-js path).
	c := s.connect(t, appBasic.key)
	c.signin(appBasic, `{"id":"42"}`)
	c.send("pusher:subscribe", map[string]any{"channel": "personal-42", "auth": ""})
	c.expectRaw(personalSucceeded("personal-42", empty))
	c.send("pusher:subscribe", map[string]any{"channel": "personal-43", "auth": ""})
	c.expectSubError("personal-43", "AuthError", 403)

	// Not signed in, auth "": 403.
	d := s.connect(t, appBasic.key)
	d.send("pusher:subscribe", map[string]any{"channel": "personal-42"})
	d.expectSubError("personal-42", "AuthError", 403)

	// 2. A channel signature, with or without channel_data (same string
	// signed as the §3 test vector: "<socket_id>:personal-<id>").
	d.send("pusher:subscribe", map[string]any{"channel": "personal-42", "auth": channelAuth(appBasic.key, appBasic.secret, d.socketID, "personal-42", "")})
	d.expectRaw(personalSucceeded("personal-42", empty))
	e := s.connect(t, appBasic.key)
	cd := `{"user_id":42,"user_info":{"n":"A"}}`
	e.send("pusher:subscribe", map[string]any{"channel": "personal-42", "auth": channelAuth(appBasic.key, appBasic.secret, e.socketID, "personal-42", cd), "channel_data": cd})
	e.expectRaw(personalSucceeded("personal-42", empty))

	f := s.connect(t, appBasic.key)
	bad := []struct {
		name, channel string
		data          map[string]any
		typ           string
		status        int
	}{
		{"bad signature", "personal-7", map[string]any{"auth": appBasic.key + ":" + strings.Repeat("0", 64)}, "AuthError", 401},
		{"wrong key", "personal-7", map[string]any{"auth": "key-full:" + strings.Repeat("0", 64)}, "AuthError", 401},
		{"signature of another socket", "personal-7", map[string]any{"auth": channelAuth(appBasic.key, appBasic.secret, "1.2", "personal-7", "")}, "AuthError", 401},
		{"unsigned channel_data", "personal-7", map[string]any{"auth": channelAuth(appBasic.key, appBasic.secret, f.socketID, "personal-7", ""), "channel_data": `{"user_id":"7"}`}, "AuthError", 401},
		{"too long id", "personal-" + strings.Repeat("x", 129), map[string]any{"auth": ""}, "LimitReached", 4009},
		{"bad name", "personal-a b", map[string]any{"auth": ""}, "LimitReached", 4009},
		{"history not an integer", "personal-7", map[string]any{"auth": channelAuth(appBasic.key, appBasic.secret, f.socketID, "personal-7", ""), "history": "5"}, "InvalidData", 400},
		{"history zero", "personal-7", map[string]any{"auth": channelAuth(appBasic.key, appBasic.secret, f.socketID, "personal-7", ""), "history": 0}, "InvalidData", 400},
	}
	for _, tc := range bad {
		data := map[string]any{"channel": tc.channel}
		for k, v := range tc.data {
			data[k] = v
		}
		f.send("pusher:subscribe", data)
		f.expectSubError(tc.channel, tc.typ, tc.status)
	}
	// channel_data naming another user, correctly signed: 403.
	cd = `{"user_id":"8"}`
	f.send("pusher:subscribe", map[string]any{"channel": "personal-7", "auth": channelAuth(appBasic.key, appBasic.secret, f.socketID, "personal-7", cd), "channel_data": cd})
	f.expectSubError("personal-7", "AuthError", 403)
	f.pingPong()

	// Events triggered on the personal channel itself reach every socket
	// holding it; unsubscribing never fails and stops them.
	s.publish(t, appBasic, "personal-42", "note", "hi")
	for _, x := range []*wsClient{c, d, e} {
		x.expectRaw(`{"event":"note","channel":"personal-42","data":"hi"}`)
	}
	d.send("pusher:unsubscribe", map[string]any{"channel": "personal-42"})
	d.pingPong()
	s.publish(t, appBasic, "personal-42", "note", "again")
	c.expectRaw(`{"event":"note","channel":"personal-42","data":"again"}`)
	d.expectNothing(100 * time.Millisecond)
}

func TestPersonalFollowsLive(t *testing.T) {
	s := startServer(t, nil)
	const me = "personal-42"
	s.followAPI(t, appBasic, true, "42", "news")
	status, body := s.api(t, appBasic, "POST", "/subscribe", nil, `{"user_id":"42","channel":"private-team"}`)
	if status != 200 || body["subscription"].(map[string]any)["event"] != "private-team" {
		t.Fatalf("follow with \"channel\": %d %v", status, body)
	}

	c := s.connect(t, appBasic.key)
	c.signin(appBasic, `{"id":"42"}`)
	c.send("pusher:subscribe", map[string]any{"channel": me, "auth": ""})
	c.expectRaw(personalSucceeded(me, `{"alias":["news","private-team"],"events":[]}`))

	// Followed channels arrive under their real names, without per-channel auth.
	s.publish(t, appBasic, "news", "update", "1")
	c.expectRaw(`{"event":"update","channel":"news","data":"1"}`)
	s.publish(t, appBasic, "private-team", "update", "2")
	c.expectRaw(`{"event":"update","channel":"private-team","data":"2"}`)

	// Also subscribed directly: answered at once, still delivered once.
	c.subscribe("news", nil)
	s.publish(t, appBasic, "news", "update", "3")
	c.expectRaw(`{"event":"update","channel":"news","data":"3"}`)
	c.expectNothing(100 * time.Millisecond)
	// pusher:unsubscribe removes the direct source only: the alias stays.
	c.send("pusher:unsubscribe", map[string]any{"channel": "news"})
	s.publish(t, appBasic, "news", "update", "4")
	c.expectRaw(`{"event":"update","channel":"news","data":"4"}`)
	// A direct subscribe to an aliased private channel needs its signature.
	c.send("pusher:subscribe", map[string]any{"channel": "private-team", "auth": ""})
	c.expectSubError("private-team", "AuthError", 401)

	// A follow added while connected: alias_changed, then delivery.
	body = s.followAPI(t, appBasic, true, "42", "sports")
	sub := body["subscription"].(map[string]any)
	if sub["user_id"] != "42" || sub["event"] != "sports" || sub["created_at"].(float64) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("subscription %v", body)
	}
	c.expectRaw(aliasChanged(me, `[\"news\",\"private-team\",\"sports\"]`, `[\"sports\"]`, `[]`))
	s.publish(t, appBasic, "sports", "goal", "5")
	c.expectRaw(`{"event":"goal","channel":"sports","data":"5"}`)
	// Following again is idempotent: same record, no frame.
	again := s.followAPI(t, appBasic, true, "42", "sports")
	if mustJSON(t, again) != mustJSON(t, body) {
		t.Fatalf("second follow %v, first %v", again, body)
	}
	c.expectNothing(100 * time.Millisecond)

	// A follow removed: alias_changed, no more delivery.
	if body := s.followAPI(t, appBasic, false, "42", "news"); mustJSON(t, body) != `{"removed":true}` {
		t.Fatalf("unfollow: %v", body)
	}
	c.expectRaw(aliasChanged(me, `[\"private-team\",\"sports\"]`, `[]`, `[\"news\"]`))
	s.publish(t, appBasic, "news", "update", "6")
	c.expectNothing(100 * time.Millisecond)
	if body := s.followAPI(t, appBasic, false, "42", "news"); mustJSON(t, body) != `{"removed":false}` {
		t.Fatalf("second unfollow: %v", body)
	}
	c.expectNothing(100 * time.Millisecond)

	// Another user's follows do not reach this socket.
	s.followAPI(t, appBasic, true, "43", "weather")
	s.publish(t, appBasic, "weather", "rain", "7")
	c.expectNothing(100 * time.Millisecond)

	// Unsubscribing the personal channel drops every alias source.
	c.send("pusher:unsubscribe", map[string]any{"channel": me})
	c.pingPong()
	s.publish(t, appBasic, "sports", "goal", "8")
	s.publish(t, appBasic, "private-team", "update", "9")
	c.expectNothing(100 * time.Millisecond)
	s.followAPI(t, appBasic, true, "42", "late")
	c.expectNothing(100 * time.Millisecond)
	status, body = s.api(t, appBasic, "GET", "/channels", nil, "")
	if status != 200 || mustJSON(t, body) != `{"channels":{}}` {
		t.Fatalf("channels after leaving: %d %v", status, body)
	}
}

func TestPersonalFollowedPresence(t *testing.T) {
	s := startPushiServer(t)
	const room = "presence-room"
	s.followAPI(t, appPeer, true, "42", room)
	other := s.connect(t, appPeer.key)
	other.subscribePresence(appPeer, room, `{"user_id":"o","peer":true}`)

	// The personal channel_data gives the identity, peer flag included.
	c := s.connect(t, appPeer.key)
	cd := `{"user_id":"42","user_info":{"n":"A"},"peer":true}`
	c.send("pusher:subscribe", map[string]any{"channel": "personal-42", "auth": channelAuth(appPeer.key, appPeer.secret, c.socketID, "personal-42", cd), "channel_data": cd})
	c.expectRaw(peerAdded(room, "peer-room:42&o", `\"o\"`))
	c.expectRaw(personalSucceeded("personal-42", `{"alias":["presence-room"],"events":[]}`))
	other.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"42\",\"user_info\":{\"n\":\"A\"}}"}`)
	other.expectRaw(peerAdded(room, "peer-room:42&o", `\"42\"`))
	other.sendText(`{"event":"client-hi","channel":"presence-room","data":"x"}`)
	c.expectRaw(`{"event":"client-hi","channel":"presence-room","data":"x","user_id":"o"}`)
	// A pusher-js style direct subscribe gets the member list at once.
	c.subscribePresence(appPeer, room, `{"user_id":"42"}`)

	// Removing the follow leaves the presence channel (the direct source
	// keeps it here), then unsubscribing leaves it for good.
	s.followAPI(t, appPeer, false, "42", room)
	c.expectRaw(aliasChanged("personal-42", `[]`, `[]`, `[\"presence-room\"]`))
	other.expectNothing(100 * time.Millisecond)
	c.send("pusher:unsubscribe", map[string]any{"channel": room})
	other.expectRaw(memberRemoved(room, "42"))
	other.expectRaw(peerRemoved(room, "peer-room:42&o", `\"42\"`))

	// Signin identity: user_info of the signed user_data, never a peer.
	s.followAPI(t, appPeer, true, "7", room)
	d := s.connect(t, appPeer.key)
	d.signin(appPeer, `{"id":"7","user_info":{"n":"S"}}`)
	d.send("pusher:subscribe", map[string]any{"channel": "personal-7", "auth": ""})
	d.expectRaw(personalSucceeded("personal-7", `{"alias":["presence-room"],"events":[]}`))
	other.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"7\",\"user_info\":{\"n\":\"S\"}}"}`)
	other.expectNothing(100 * time.Millisecond)
	// Disconnecting removes the member.
	d.conn.Close()
	other.expectRaw(memberRemoved(room, "7"))
}

// The per-socket channel limit and full presence channels skip followed
// channels instead of failing the personal subscribe.
func TestPersonalSkipsUnjoinable(t *testing.T) {
	s := startPushiServer(t) // appPeer: 4 members per presence channel, 6 channels per socket
	for _, u := range []string{"a", "b", "c", "d"} {
		x := s.connect(t, appPeer.key)
		x.subscribePresence(appPeer, "presence-full", `{"user_id":"`+u+`"}`)
	}
	for _, ch := range []string{"presence-full", "c1", "c2", "c3", "c4", "c5", "c6", "c7"} {
		s.followAPI(t, appPeer, true, "9", ch)
	}
	c := s.connect(t, appPeer.key)
	c.signin(appPeer, `{"id":"9"}`)
	c.send("pusher:subscribe", map[string]any{"channel": "personal-9", "auth": ""})
	// 6 slots: the personal channel and the first five joinable channels.
	c.expectRaw(personalSucceeded("personal-9", `{"alias":["c1","c2","c3","c4","c5"],"events":[]}`))
	s.followAPI(t, appPeer, true, "9", "c0")
	c.expectNothing(100 * time.Millisecond) // no room: not joined, nothing announced
	s.followAPI(t, appPeer, false, "9", "c1")
	c.expectRaw(aliasChanged("personal-9", `[\"c2\",\"c3\",\"c4\",\"c5\"]`, `[]`, `[\"c1\"]`))
}

func TestPersonalInbox(t *testing.T) {
	s := startPushiServer(t)
	const appID = "200002" // inbox_on_subscribe 2, read_max 3
	inbox := testApp{appID, "key-inbox", "secret-inbox"}
	s.followAPI(t, inbox, true, "7", "news")
	ctx := context.Background()
	base := time.UnixMilli(1719580393127)
	for i, tr := range []store.Trigger{
		{Channels: []string{"news"}, Event: "e1", Data: `{"a":1}`},
		{Channels: []string{"personal-7"}, Event: "e2", Data: "two"},
		{Channels: []string{"other", "news"}, Event: "e3", Data: "3"},
		{Channels: []string{"news"}, Event: "e4", Data: "4"},
	} {
		tr.AppID, tr.Source, tr.Time = appID, "api", base.Add(time.Duration(i)*time.Second)
		if _, err := s.Store.Append(ctx, tr, nil); err != nil {
			t.Fatal(err)
		}
	}
	type ev struct {
		MID       string  `json:"mid"`
		Seq       int64   `json:"seq"`
		Timestamp float64 `json:"timestamp"`
		Channel   string  `json:"channel"`
		Event     string  `json:"event"`
		Data      string  `json:"data"`
	}
	read := func(extra map[string]any) []ev {
		t.Helper()
		c := s.connect(t, inbox.key)
		c.signin(inbox, `{"id":"7"}`)
		data := map[string]any{"auth": ""}
		for k, v := range extra {
			data[k] = v
		}
		f := c.subscribe("personal-7", data)
		var d struct {
			Alias  []string          `json:"alias"`
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil || len(d.Alias) != 1 {
			t.Fatalf("succeeded data %s (%v)", f.dataString(t), err)
		}
		var out []ev
		for _, raw := range d.Events {
			var keys map[string]any
			json.Unmarshal(raw, &keys)
			var e ev
			if err := json.Unmarshal(raw, &e); err != nil || len(keys) != 6 || e.MID == "" || e.Seq < 1 {
				t.Fatalf("event %s: want exactly mid, seq, timestamp, channel, event, data", raw)
			}
			out = append(out, e)
		}
		return out
	}
	names := func(evs []ev) string {
		var s []string
		for _, e := range evs {
			s = append(s, e.Channel+"/"+e.Event+"/"+e.Data)
		}
		return strings.Join(s, " ")
	}
	// Newest first; one row per trigger (e3 counted once although two channels).
	if got := read(nil); names(got) != "news/e4/4 news/e3/3" || got[0].Timestamp != 1719580396.127 {
		t.Fatalf("default inbox: %+v", got)
	}
	if got := read(map[string]any{"history": 3}); names(got) != "news/e4/4 news/e3/3 personal-7/e2/two" {
		t.Fatalf("history 3: %+v", got)
	}
	if got := read(map[string]any{"history": 50}); len(got) != 3 {
		t.Fatalf("history over read_max: %d events, want 3", len(got))
	}
}

// Follows reached through the listing, for the bad-input tests.
func (s *testServer) listFollows(t *testing.T, a testApp, query url.Values) map[string]any {
	t.Helper()
	status, body := s.api(t, a, "GET", "/subscriptions", query, "")
	if status != 200 {
		t.Fatalf("GET /subscriptions %v: %d %v", query, status, body)
	}
	return body
}
