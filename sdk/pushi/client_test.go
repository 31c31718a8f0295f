package pushi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
)

var ctx = context.Background()

// §16 "HTTP POST" row end to end: the exact body, body_md5 and signature.
func TestTriggerPOSTVector(t *testing.T) {
	for name, data := range map[string]any{
		"map":    map[string]string{"some": "data"},
		"string": `{"some":"data"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, 200, `{}`)
			res, err := pinClock(f.client()).Trigger(ctx, Event{Channels: []string{"project-3"}, Name: "foo", Data: data})
			if err != nil {
				t.Fatal(err)
			}
			if res == nil || len(res.Channels) != 0 {
				t.Errorf("result %+v, want empty", res)
			}
			r := f.only()
			if want := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`; string(r.Body) != want {
				t.Errorf("body\n got %s\nwant %s", r.Body, want)
			}
			if r.Method != "POST" || r.Path != "/apps/3/events" {
				t.Errorf("%s %s", r.Method, r.Path)
			}
			q := r.Query
			if q["body_md5"] != "ec365a775a4cd0599faeb73354201b6f" || q["auth_timestamp"] != "1353088179" {
				t.Errorf("query %v", q)
			}
			if q["auth_signature"] != "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c" {
				t.Errorf("auth_signature %s", q["auth_signature"])
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// §16 "HTTP GET" row end to end, plus parsing of the answer.
func TestChannelsGETVector(t *testing.T) {
	f := newFakeServer(t, 200, `{"channels":{"presence-a":{"user_count":42},"presence-b":{}}}`)
	chs, err := pinClock(f.client()).Channels(ctx, ChannelsQuery{Prefix: "presence-", Info: []string{"user_count"}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "GET" || r.Path != "/apps/3/channels" || len(r.Body) != 0 {
		t.Errorf("%s %s body %q", r.Method, r.Path, r.Body)
	}
	if r.Query["auth_signature"] != "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291" {
		t.Errorf("auth_signature %s", r.Query["auth_signature"])
	}
	if _, ok := r.Query["body_md5"]; ok {
		t.Error("body_md5 on a GET")
	}
	if len(chs) != 2 || chs["presence-a"].UserCount != 42 || chs["presence-b"].UserCount != 0 {
		t.Errorf("channels %+v", chs)
	}
}

func TestChannelsWithoutInfo(t *testing.T) {
	f := newFakeServer(t, 200, `{"channels":{"news":{},"cache-x":{}}}`)
	chs, err := f.client().Channels(ctx, ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := chs["news"]; !ok || len(chs) != 2 {
		t.Errorf("channels %+v", chs)
	}
	q := f.only().Query
	if _, ok := q["info"]; ok {
		t.Error("info sent without being asked")
	}
	if _, ok := q["filter_by_prefix"]; ok {
		t.Error("filter_by_prefix sent without being asked")
	}
}

// A prefix needing escapes: the URL carries it escaped, the signature covers
// the decoded value (the fake server verifies that).
func TestChannelsEscapesQueryValues(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	chs, err := f.client().Channels(ctx, ChannelsQuery{Prefix: "a b&c=d+e%"})
	if err != nil {
		t.Fatal(err)
	}
	if chs == nil {
		t.Error("nil map for a {} answer")
	}
	r := f.only()
	if r.Query["filter_by_prefix"] != "a b&c=d+e%" {
		t.Errorf("server decoded %q", r.Query["filter_by_prefix"])
	}
	if !strings.Contains(r.RawQuery, "filter_by_prefix=a+b%26c%3Dd%2Be%25") {
		t.Errorf("raw query %s", r.RawQuery)
	}
}

func TestTriggerEventSeedOrder(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	if err := f.client().TriggerEvent(ctx, "news", map[string]int{"price": 42}, "update"); err != nil {
		t.Fatal(err)
	}
	if got, want := string(f.only().Body), `{"name":"update","channels":["news"],"data":"{\"price\":42}"}`; got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestTriggerDataEncoding(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		S string `json:"s"`
	}
	cases := []struct {
		name string
		data any
		want string
	}{
		{"string sent as is", "not json {", "not json {"},
		{"empty string", "", ""},
		{"bytes as text", []byte(`{"a": 1}`), `{"a": 1}`},
		{"raw message as its text", json.RawMessage(`{"a":  [1, 2]}`), `{"a":  [1, 2]}`},
		{"struct as JSON", point{1, "<b>&"}, `{"x":1,"s":"<b>&"}`},
		{"number as JSON", 3.5, `3.5`},
		{"nil as JSON null", nil, `null`},
		{"slice as JSON", []string{"a"}, `["a"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, 200, `{}`)
			if err := f.client().TriggerEvent(ctx, "c", tc.data, "e"); err != nil {
				t.Fatal(err)
			}
			var body struct{ Data *string }
			if err := json.Unmarshal(f.only().Body, &body); err != nil || body.Data == nil {
				t.Fatalf("body %s: %v", f.only().Body, err)
			}
			if *body.Data != tc.want {
				t.Errorf("data %q, want %q", *body.Data, tc.want)
			}
		})
	}
}

func TestTriggerAllFieldsAndInfo(t *testing.T) {
	f := newFakeServer(t, 200, `{"channels":{"presence-a":{"user_count":42,"subscription_count":51},"b":{"subscription_count":13}}}`)
	res, err := f.client().Trigger(ctx, Event{
		Channels: []string{"presence-a", "b"},
		Name:     `App\Events\OrderShipped`,
		Data:     "x",
		SocketID: "123.456",
		Info:     []string{"user_count", "subscription_count"},
		Persist:  new(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"App\\Events\\OrderShipped","channels":["presence-a","b"],"data":"x","socket_id":"123.456","info":"user_count,subscription_count","persist":true}`
	if got := string(f.only().Body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if a := res.Channels["presence-a"]; a.UserCount != 42 || a.SubscriptionCount != 51 {
		t.Errorf("presence-a %+v", a)
	}
	if b := res.Channels["b"]; b.SubscriptionCount != 13 || b.UserCount != 0 {
		t.Errorf("b %+v", b)
	}
}

// persist is a tri-state: absent lets the app's rules decide.
func TestTriggerPersistTriState(t *testing.T) {
	for name, tc := range map[string]struct {
		persist *bool
		want    string
	}{
		"unset": {nil, `{"name":"e","channels":["c"],"data":"d"}`},
		"true":  {new(true), `{"name":"e","channels":["c"],"data":"d","persist":true}`},
		"false": {new(false), `{"name":"e","channels":["c"],"data":"d","persist":false}`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, 200, `{}`)
			if _, err := f.client().Trigger(ctx, Event{Channel: "c", Name: "e", Data: "d", Persist: tc.persist}); err != nil {
				t.Fatal(err)
			}
			if got := string(f.only().Body); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTriggerNameRules(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	c := f.client()
	ok := []string{
		strings.Repeat("n", 200),
		strings.Repeat("é", 200), // counted in characters, not bytes
		"client-x", "pushiish:x", "my-pusher:x",
	}
	for _, name := range ok {
		if err := c.TriggerEvent(ctx, "c", "d", name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestTriggerChannelNameRules(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	c := f.client()
	ok := []string{
		"a", strings.Repeat("a", 200), "private-A_b-c=d@e,f.g;h", "presence-cache-x",
		"#server-to-user-42", "#server-to-user-a=b@c", "peer-chat:alice&bob", "personal-42",
	}
	for _, ch := range ok {
		if err := c.TriggerEvent(ctx, ch, "d", "e"); err != nil {
			t.Errorf("%q: %v", ch, err)
		}
	}
	if n := len(f.requests()); n != len(ok) {
		t.Errorf("server saw %d requests, want %d", n, len(ok))
	}
}

func TestTriggerBatch(t *testing.T) {
	f := newFakeServer(t, 200, `{"batch":[{"user_count":3},{}]}`)
	res, err := f.client().TriggerBatch(ctx, []Event{
		{Channel: "presence-a", Name: "e1", Data: map[string]bool{"ok": true}, Info: []string{"user_count"}},
		{Channels: []string{"b"}, Name: "e2", Data: "two", SocketID: "1.2", Persist: new(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "POST" || r.Path != "/apps/3/batch_events" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	want := `{"batch":[{"name":"e1","channel":"presence-a","data":"{\"ok\":true}","info":"user_count"},` +
		`{"name":"e2","channel":"b","data":"two","socket_id":"1.2","persist":false}]}`
	if string(r.Body) != want {
		t.Errorf("body\n got %s\nwant %s", r.Body, want)
	}
	if len(res.Batch) != 2 || res.Batch[0].UserCount != 3 || res.Batch[1] != (ChannelInfo{}) {
		t.Errorf("result %+v", res)
	}
}

func TestTriggerBatchEmptyAnswer(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	res, err := f.client().TriggerBatch(ctx, []Event{{Channel: "a", Name: "e", Data: "d"}})
	if err != nil || res == nil || res.Batch != nil {
		t.Errorf("res %+v err %v", res, err)
	}
}

func TestSendToUser(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	if err := f.client().SendToUser(ctx, "42", "hi", "note"); err != nil {
		t.Fatal(err)
	}
	if got, want := string(f.only().Body), `{"name":"note","channels":["#server-to-user-42"],"data":"hi"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestChannel(t *testing.T) {
	f := newFakeServer(t, 200, `{"occupied":true,"subscription_count":51,"cache":{"data":"{\"p\":1}","ttl":60}}`)
	ch, err := f.client().Channel(ctx, "cache-prices", "subscription_count", "cache")
	if err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "GET" || r.Path != "/apps/3/channels/cache-prices" || r.Query["info"] != "subscription_count,cache" {
		t.Errorf("%s %s %v", r.Method, r.Path, r.Query)
	}
	want := ChannelInfo{Occupied: true, SubscriptionCount: 51, Cache: &CachedEvent{Data: `{"p":1}`, TTL: 60}}
	if !ch.Occupied || ch.SubscriptionCount != 51 || ch.Cache == nil || *ch.Cache != *want.Cache {
		t.Errorf("got %+v", ch)
	}
}

func TestChannelPresenceAndNullCache(t *testing.T) {
	f := newFakeServer(t, 200, `{"occupied":false,"user_count":0,"cache":null}`)
	ch, err := f.client().Channel(ctx, "presence-cache-room", "user_count", "cache")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Occupied || ch.Cache != nil {
		t.Errorf("got %+v", ch)
	}
	if _, ok := f.only().Query["info"]; !ok {
		t.Error("info not sent")
	}
}

// Channel names in paths are escaped ('#' must not start a fragment) and the
// decoded path is signed (the fake server checks the signature).
func TestChannelPathEscaping(t *testing.T) {
	f := newFakeServer(t, 200, `{"occupied":true}`)
	c := f.client()
	for _, name := range []string{"#server-to-user-7", "private-a;b,c=d@e", "peer-chat:alice&bob"} {
		if _, err := c.Channel(ctx, name); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
	}
	reqs := f.requests()
	if reqs[0].RawPath != "/apps/3/channels/%23server-to-user-7" || reqs[0].Path != "/apps/3/channels/#server-to-user-7" {
		t.Errorf("sent %q (decoded %q)", reqs[0].RawPath, reqs[0].Path)
	}
	if reqs[1].Path != "/apps/3/channels/private-a;b,c=d@e" || !strings.Contains(reqs[1].RawPath, "%3B") {
		t.Errorf("sent %q (decoded %q)", reqs[1].RawPath, reqs[1].Path)
	}
	if reqs[2].Path != "/apps/3/channels/peer-chat:alice&bob" {
		t.Errorf("decoded %q", reqs[2].Path)
	}
	if _, ok := reqs[0].Query["info"]; ok {
		t.Error("info sent without attributes")
	}
}

func TestUsers(t *testing.T) {
	f := newFakeServer(t, 200, `{"users":[{"id":"1"},{"id":"2"}]}`)
	users, err := f.client().Users(ctx, "presence-room")
	if err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "GET" || r.Path != "/apps/3/channels/presence-room/users" || len(r.Body) != 0 {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	if len(users) != 2 || users[0] != "1" || users[1] != "2" {
		t.Errorf("users %v", users)
	}
}

func TestTerminateUserConnections(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	if err := f.client().TerminateUserConnections(ctx, "user@x.com"); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "POST" || r.Path != "/apps/3/users/user@x.com/terminate_connections" || string(r.Body) != "{}" {
		t.Errorf("%s %s %q", r.Method, r.Path, r.Body)
	}
	if r.Query["body_md5"] != "99914b932bd37a50b983c5e7c90ae93b" {
		t.Errorf("body_md5 %q", r.Query["body_md5"])
	}
}

// The mount prefix of WithBaseURL is sent but not signed (§14.1).
func TestMountPrefix(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	f.prefix = "/rt"
	c := New(vecAppID, vecKey, vecSecret, WithBaseURL(f.srv.URL+"/rt/"))
	if err := c.TriggerEvent(ctx, "c", "d", "e"); err != nil {
		t.Fatal(err)
	}
	if r := f.only(); r.RawPath != "/rt/apps/3/events" || r.Path != "/apps/3/events" {
		t.Errorf("sent %q, verified %q", r.RawPath, r.Path)
	}
}

func TestServerErrors(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		wantMsg    string
	}{
		{"json error body", `{"error":"Invalid channel name","code":400}`, 400, "Invalid channel name"},
		{"413", `{"error":"Event data too large","code":413}`, 413, "Event data too large"},
		{"plain text", "upstream down\n", 502, "upstream down"},
		{"empty body", "", 503, "Service Unavailable"},
		{"json without error", `{"code":404}`, 404, `{"code":404}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, tc.status, tc.body)
			err := f.client().TriggerEvent(ctx, "c", "d", "e")
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if pe.Status != tc.status || pe.Message != tc.wantMsg {
				t.Errorf("got %+v", pe)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestServerErrorOnEveryMethod(t *testing.T) {
	f := newFakeServer(t, 401, `{"error":"Invalid signature","code":401}`)
	c := f.client()
	calls := map[string]func() error{
		"Trigger":      func() error { _, err := c.Trigger(ctx, Event{Channel: "a", Name: "e"}); return err },
		"TriggerBatch": func() error { _, err := c.TriggerBatch(ctx, []Event{{Channel: "a", Name: "e"}}); return err },
		"Channels":     func() error { _, err := c.Channels(ctx, ChannelsQuery{}); return err },
		"Channel":      func() error { _, err := c.Channel(ctx, "a"); return err },
		"Users":        func() error { _, err := c.Users(ctx, "presence-a"); return err },
		"Terminate":    func() error { return c.TerminateUserConnections(ctx, "1") },
	}
	for name, call := range calls {
		var pe *Error
		if err := call(); !errors.As(err, &pe) || pe.Status != 401 || pe.Message != "Invalid signature" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMalformedSuccessBody(t *testing.T) {
	f := newFakeServer(t, 200, `{"channels":`)
	_, err := f.client().Channels(ctx, ChannelsQuery{})
	var pe *Error
	if err == nil || errors.As(err, &pe) {
		t.Errorf("err = %v, want a decoding error", err)
	}
}

// Everything the server would answer 400 is refused before sending.
func TestRejectedBeforeSending(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	c := f.client(WithEncryptionMasterKey(testMasterKey))
	many := make([]string, 101)
	for i := range many {
		many[i] = "c"
	}
	tenPlusOne := make([]Event, 11)
	for i := range tenPlusOne {
		tenPlusOne[i] = Event{Channel: "c", Name: "e"}
	}
	trig := func(ev Event) func() error {
		return func() error { _, err := c.Trigger(ctx, ev); return err }
	}
	batch := func(evs []Event) func() error {
		return func() error { _, err := c.TriggerBatch(ctx, evs); return err }
	}
	cases := map[string]func() error{
		"no channel":               trig(Event{Name: "e"}),
		"channel and channels":     trig(Event{Channel: "a", Channels: []string{"b"}, Name: "e"}),
		"101 channels":             trig(Event{Channels: many, Name: "e"}),
		"empty channel in list":    trig(Event{Channels: []string{"a", ""}, Name: "e"}),
		"channel 201 chars":        trig(Event{Channel: strings.Repeat("a", 201), Name: "e"}),
		"channel with space":       trig(Event{Channel: "a b", Name: "e"}),
		"channel with colon":       trig(Event{Channel: "private-a:b", Name: "e"}),
		"hash channel":             trig(Event{Channel: "#foo", Name: "e"}),
		"server-to-user no id":     trig(Event{Channel: "#server-to-user-", Name: "e"}),
		"server-to-user bad id":    trig(Event{Channel: "#server-to-user-a b", Name: "e"}),
		"peer with space":          trig(Event{Channel: "peer-a:b c", Name: "e"}),
		"empty event name":         trig(Event{Channel: "c"}),
		"event name 201 chars":     trig(Event{Channel: "c", Name: strings.Repeat("n", 201)}),
		"reserved pusher:":         trig(Event{Channel: "c", Name: "pusher:x"}),
		"reserved pusher_internal": trig(Event{Channel: "c", Name: "pusher_internal:x"}),
		"reserved pushi:":          trig(Event{Channel: "c", Name: "pushi:latest"}),
		"reserved pushi_internal":  trig(Event{Channel: "c", Name: "pushi_internal:x"}),
		"bad socket id":            trig(Event{Channel: "c", Name: "e", SocketID: "1.2.3"}),
		"socket id no digits":      trig(Event{Channel: "c", Name: "e", SocketID: "."}),
		"unencodable data":         trig(Event{Channel: "c", Name: "e", Data: make(chan int)}),
		"encrypted without a key": func() error {
			_, err := f.client().Trigger(ctx, Event{Channel: "private-encrypted-x", Name: "e", Data: map[string]int{"a": 1}})
			return err
		},
		"encrypted in multi":      trig(Event{Channels: []string{"a", "private-encrypted-x"}, Name: "e", Data: "plain"}),
		"empty batch":             batch(nil),
		"11 batch items":          batch(tenPlusOne),
		"batch item two channels": batch([]Event{{Channels: []string{"a", "b"}, Name: "e"}}),
		"batch item bad name":     batch([]Event{{Channel: "a", Name: "e"}, {Channel: "b", Name: "pusher:x"}}),
		"batch item no channel":   batch([]Event{{Name: "e"}}),
		"channels info no prefix": func() error {
			_, err := c.Channels(ctx, ChannelsQuery{Info: []string{"user_count"}})
			return err
		},
		"channels info private prefix": func() error {
			_, err := c.Channels(ctx, ChannelsQuery{Prefix: "private-", Info: []string{"user_count"}})
			return err
		},
		"channels info unknown": func() error {
			_, err := c.Channels(ctx, ChannelsQuery{Info: []string{"cache"}})
			return err
		},
		"channel bad name":                func() error { _, err := c.Channel(ctx, "a b"); return err },
		"channel user_count non-presence": func() error { _, err := c.Channel(ctx, "private-a", "user_count"); return err },
		"channel subscription_count presence": func() error {
			_, err := c.Channel(ctx, "presence-a", "subscription_count")
			return err
		},
		"channel cache non-cache":   func() error { _, err := c.Channel(ctx, "news", "cache"); return err },
		"channel unknown attribute": func() error { _, err := c.Channel(ctx, "news", "occupied"); return err },
		"users non-presence":        func() error { _, err := c.Users(ctx, "private-a"); return err },
		"users bad name":            func() error { _, err := c.Users(ctx, "presence-a b"); return err },
		"terminate empty id":        func() error { return c.TerminateUserConnections(ctx, "") },
		"terminate bad id":          func() error { return c.TerminateUserConnections(ctx, "a/b") },
		"send to user bad id":       func() error { return c.SendToUser(ctx, "a b", "d", "e") },
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			var ve *ValidationError
			if err := call(); !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// With a master key, data for an encrypted channel is sealed under the
// shared secret that AuthorizeChannel gives pusher-js.
func TestTriggerEncryptsWithMasterKey(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	c := f.client(WithEncryptionMasterKey(testMasterKey))
	if err := c.TriggerEvent(ctx, "private-encrypted-x", map[string]int{"a": 1}, "e"); err != nil {
		t.Fatal(err)
	}
	var body struct{ Data string }
	json.Unmarshal(f.only().Body, &body)
	var env struct{ Nonce, Ciphertext string }
	if err := json.Unmarshal([]byte(body.Data), &env); err != nil || env.Nonce == "" {
		t.Fatalf("not an envelope: %q", body.Data)
	}
	authBody, err := c.AuthorizeChannel("1.2", "private-encrypted-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		SharedSecret string `json:"shared_secret"`
	}
	json.Unmarshal(authBody, &auth)
	var key [32]byte
	var nonce [24]byte
	k, _ := base64.StdEncoding.DecodeString(auth.SharedSecret)
	n, _ := base64.StdEncoding.DecodeString(env.Nonce)
	box, _ := base64.StdEncoding.DecodeString(env.Ciphertext)
	copy(key[:], k)
	copy(nonce[:], n)
	plain, ok := secretbox.Open(nil, box, &nonce, &key)
	if !ok || string(plain) != `{"a":1}` {
		t.Fatalf("decrypted %q, ok=%v", plain, ok)
	}
}

// Data already encrypted elsewhere passes through untouched.
func TestTriggerEncryptedEnvelope(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	env := `{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}`
	if err := f.client().TriggerEvent(ctx, "private-encrypted-x", env, "e"); err != nil {
		t.Fatal(err)
	}
	var body struct{ Data string }
	json.Unmarshal(f.only().Body, &body)
	if body.Data != env {
		t.Errorf("data %q", body.Data)
	}
}

func TestDefaultTimestampIsNow(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	if err := f.client().TriggerEvent(ctx, "c", "d", "e"); err != nil {
		t.Fatal(err) // the fake checks the 600 s window
	}
}

func TestTimeout(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	f.handler = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	start := time.Now()
	err := f.client(WithTimeout(50*time.Millisecond)).TriggerEvent(ctx, "c", "d", "e")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("timeout not applied")
	}
}

func TestCallerContextCancels(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.client().TriggerEvent(cctx, "c", "d", "e"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	tr := &countingTransport{}
	if err := f.client(WithHTTPClient(&http.Client{Transport: tr})).TriggerEvent(ctx, "c", "d", "e"); err != nil {
		t.Fatal(err)
	}
	if tr.n.Load() != 1 {
		t.Errorf("custom client used %d times", tr.n.Load())
	}
}

func TestDefaults(t *testing.T) {
	c := New("1", "k", "s")
	if c.base.String() != DefaultBaseURL || c.timeout != DefaultTimeout || c.http == nil {
		t.Errorf("base %v timeout %v", c.base, c.timeout)
	}
	if New("1", "k", "s", WithHTTPClient(nil)).http == nil {
		t.Error("nil HTTP client accepted")
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, raw := range []string{"127.0.0.1:8080", "ftp://x", "http://", "://bad"} {
		err := New("1", "k", "s", WithBaseURL(raw)).TriggerEvent(ctx, "c", "d", "e")
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%q: err = %v, want *ValidationError", raw, err)
		}
	}
}

func TestNetworkError(t *testing.T) {
	f := newFakeServer(t, 200, `{}`)
	c := f.client()
	f.srv.Close()
	err := c.TriggerEvent(ctx, "c", "d", "e")
	var pe *Error
	if err == nil || errors.As(err, &pe) {
		t.Errorf("err = %v, want a transport error", err)
	}
}

// A channel list may ask for every channel's subscription_count, with or
// without a prefix (docs/protocol.md §14.2).
func TestChannelsSubscriptionCount(t *testing.T) {
	f := newFakeServer(t, 200, `{"channels":{"a":{"subscription_count":3},"presence-b":{"subscription_count":2}}}`)
	got, err := f.client().Channels(context.Background(), ChannelsQuery{Info: []string{"subscription_count"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"].SubscriptionCount != 3 || got["presence-b"].SubscriptionCount != 2 {
		t.Fatalf("channels %+v", got)
	}
	if r := f.only(); r.Query["info"] != "subscription_count" || r.Path != "/apps/3/channels" {
		t.Fatalf("request %+v", r)
	}
}
