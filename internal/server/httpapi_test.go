package server

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// HTTP API (docs/protocol.md §14): success bodies, info, errors, delivery rules.

// wantAPI sends a signed request and checks status and body (compared as
// JSON, key order ignored).
func (s *testServer) wantAPI(t *testing.T, a testApp, method, path string, query url.Values, body string, wantStatus int, wantBody string) {
	t.Helper()
	status, got := s.api(t, a, method, path, query, body)
	if status != wantStatus {
		t.Fatalf("%s %s %v: status %d, want %d; body %v", method, path, query, status, wantStatus, got)
	}
	if wantBody != "" {
		var w any
		if err := json.Unmarshal([]byte(wantBody), &w); err != nil {
			t.Fatal(err)
		}
		if mustJSON(t, got) != mustJSON(t, w) {
			t.Fatalf("%s %s %v: body %s, want %s", method, path, query, mustJSON(t, got), mustJSON(t, w))
		}
	}
}

// wantAPIError checks an error status and the {"error":…,"code":…} body.
func (s *testServer) wantAPIError(t *testing.T, a testApp, method, path string, query url.Values, body string, status int) {
	t.Helper()
	got, b := s.api(t, a, method, path, query, body)
	checkErrorBody(t, got, b, status)
}

func checkErrorBody(t *testing.T, got int, b map[string]any, status int) {
	t.Helper()
	msg, _ := b["error"].(string)
	code, _ := b["code"].(float64)
	if got != status || msg == "" || int(code) != status || len(b) != 2 {
		t.Fatalf("status %d body %v, want %d with {error, code}", got, b, status)
	}
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestHTTPEventsSuccess(t *testing.T) {
	s := startServer(t, nil)
	a, b := s.connect(t, "key-basic"), s.connect(t, "key-basic")
	a.subscribe("chan-a", nil)
	b.subscribe("chan-a", nil)
	b.subscribe("chan-b", nil)
	a.subscribePresence(appBasic, "presence-p", `{"user_id":"1"}`)
	b.subscribePresence(appBasic, "presence-p", `{"user_id":"2"}`)
	a.expectEvent("pusher_internal:member_added")

	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e1","channel":"chan-a","data":"d1"}`, 200, `{}`)
	a.expectRaw(`{"event":"e1","channel":"chan-a","data":"d1"}`)
	b.expectRaw(`{"event":"e1","channel":"chan-a","data":"d1"}`)

	// Non-string data: its compact JSON text is the string.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e2","channel":"chan-b","data":{ "x" : [1, 2] }}`, 200, `{}`)
	b.expectRaw(`{"event":"e2","channel":"chan-b","data":"{\"x\":[1,2]}"}`)

	// Duplicates collapsed; a socket in two target channels gets two frames.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e3","channels":["chan-a","chan-b","chan-a"],"data":"d3"}`, 200, `{}`)
	a.expectRaw(`{"event":"e3","channel":"chan-a","data":"d3"}`)
	a.expectNothing(100 * time.Millisecond)
	b.expectUnordered(`{"event":"e3","channel":"chan-a","data":"d3"}`, `{"event":"e3","channel":"chan-b","data":"d3"}`)
	b.expectNothing(50 * time.Millisecond)

	// socket_id excludes that one connection in every channel.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e4","channels":["chan-a","chan-b"],"data":"d4","socket_id":"`+b.socketID+`"}`, 200, `{}`)
	a.expectRaw(`{"event":"e4","channel":"chan-a","data":"d4"}`)
	b.expectNothing(100 * time.Millisecond)

	// info: counts at publish time.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e5","channels":["presence-p","chan-b","empty"],"data":"d5","info":"user_count,subscription_count"}`, 200,
		`{"channels":{"presence-p":{"user_count":2,"subscription_count":2},"chan-b":{"subscription_count":1},"empty":{"subscription_count":0}}}`)
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e6","channels":["presence-p","chan-a"],"data":"d6","info":"user_count"}`, 200,
		`{"channels":{"presence-p":{"user_count":2},"chan-a":{}}}`)
	a.expectUnordered(`{"event":"e5","channel":"presence-p","data":"d5"}`, `{"event":"e6","channel":"presence-p","data":"d6"}`, `{"event":"e6","channel":"chan-a","data":"d6"}`)
	b.expectUnordered(`{"event":"e5","channel":"presence-p","data":"d5"}`, `{"event":"e5","channel":"chan-b","data":"d5"}`, `{"event":"e6","channel":"presence-p","data":"d6"}`, `{"event":"e6","channel":"chan-a","data":"d6"}`)

	// Encrypted channels are opaque and may be mixed with others.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e7","channels":["private-encrypted-x","chan-a"],"data":"{\"nonce\":\"n\",\"ciphertext\":\"c\"}"}`, 200, `{}`)
	a.expectRaw(`{"event":"e7","channel":"chan-a","data":"{\"nonce\":\"n\",\"ciphertext\":\"c\"}"}`)

	// Deprecated single-channel trigger: body is the raw data.
	s.wantAPI(t, appBasic, "POST", "/channels/chan-a/events", q("name", "legacy"), `raw body`, 200, `{}`)
	a.expectRaw(`{"event":"legacy","channel":"chan-a","data":"raw body"}`)
}

func TestHTTPBatchEvents(t *testing.T) {
	s := startServer(t, nil)
	a := s.connect(t, "key-basic")
	a.subscribe("b1", nil)
	a.subscribePresence(appBasic, "presence-b", `{"user_id":"u"}`)

	s.wantAPI(t, appBasic, "POST", "/batch_events", nil, `{"batch":[{"name":"x","channel":"b1","data":"1"},{"name":"y","channel":"b1","data":"2"}]}`, 200, `{}`)
	a.expectRaw(`{"event":"x","channel":"b1","data":"1"}`)
	a.expectRaw(`{"event":"y","channel":"b1","data":"2"}`)

	s.wantAPI(t, appBasic, "POST", "/batch_events", nil,
		`{"batch":[{"name":"x","channel":"b1","data":"1","info":"subscription_count"},{"name":"x","channel":"b1","data":"2"},{"name":"x","channel":"presence-b","data":"3","info":"user_count"},{"name":"x","channel":"b1","data":"4","socket_id":"`+a.socketID+`"}]}`, 200,
		`{"batch":[{"subscription_count":1},{},{"user_count":1},{}]}`)
	a.expectRaw(`{"event":"x","channel":"b1","data":"1"}`)
	a.expectRaw(`{"event":"x","channel":"b1","data":"2"}`)
	a.expectRaw(`{"event":"x","channel":"presence-b","data":"3"}`)
	a.expectNothing(100 * time.Millisecond)

	items := make([]string, 11)
	for i := range items {
		items[i] = `{"name":"x","channel":"b1","data":"1"}`
	}
	s.wantAPIError(t, appBasic, "POST", "/batch_events", nil, `{"batch":[`+strings.Join(items, ",")+`]}`, 400)
	s.wantAPI(t, appBasic, "POST", "/batch_events", nil, `{"batch":[`+strings.Join(items[:10], ",")+`]}`, 200, `{}`)
	for i := 0; i < 10; i++ {
		a.expectRaw(`{"event":"x","channel":"b1","data":"1"}`)
	}
	for _, body := range []string{`{"batch":[]}`, `{}`, `{"batch":{}}`, `{"batch":[{"name":"x","channels":["b1"],"data":"1"}]}`,
		`{"batch":[{"name":"x","channel":"b1","data":"1"},{"name":"pusher:x","channel":"b1","data":"1"}]}`,
		`{"batch":[{"name":"x","channel":"bad name","data":"1"}]}`} {
		s.wantAPIError(t, appBasic, "POST", "/batch_events", nil, body, 400)
	}
	// A refused batch publishes nothing.
	a.expectNothing(100 * time.Millisecond)
}

func TestHTTPEventsErrors(t *testing.T) {
	s := startServer(t, nil)
	a := s.connect(t, "key-basic")
	a.subscribe("ok", nil)
	many := make([]string, 101)
	for i := range many {
		many[i] = `"c` + strconv.Itoa(i) + `"`
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"malformed JSON", `{"name":`, 400},
		{"not an object", `[1]`, 400},
		{"missing name", `{"channel":"ok","data":"x"}`, 400},
		{"empty name", `{"name":"","channel":"ok","data":"x"}`, 400},
		{"name wrong type", `{"name":5,"channel":"ok","data":"x"}`, 400},
		{"missing data", `{"name":"e","channel":"ok"}`, 400},
		{"missing channel", `{"name":"e","data":"x"}`, 400},
		{"channel and channels", `{"name":"e","channel":"ok","channels":["ok"],"data":"x"}`, 400},
		{"empty channels", `{"name":"e","channels":[],"data":"x"}`, 400},
		{"101 channels", `{"name":"e","channels":[` + strings.Join(many, ",") + `],"data":"x"}`, 400},
		{"invalid channel", `{"name":"e","channel":"a b","data":"x"}`, 400},
		{"hash channel", `{"name":"e","channel":"#ok","data":"x"}`, 400},
		{"201-char channel", `{"name":"e","channel":"` + strings.Repeat("c", 201) + `","data":"x"}`, 400},
		{"201-char name", `{"name":"` + strings.Repeat("n", 201) + `","channel":"ok","data":"x"}`, 400},
		{"reserved pusher:", `{"name":"pusher:x","channel":"ok","data":"x"}`, 400},
		{"reserved pusher_internal:", `{"name":"pusher_internal:subscription_succeeded","channel":"ok","data":"x"}`, 400},
		{"reserved pushi:", `{"name":"pushi:x","channel":"ok","data":"x"}`, 400},
		{"reserved pushi_internal:", `{"name":"pushi_internal:x","channel":"ok","data":"x"}`, 400},
		{"bad socket_id", `{"name":"e","channel":"ok","data":"x","socket_id":"abc"}`, 400},
		{"bad socket_id leading zero", `{"name":"e","channel":"ok","data":"x","socket_id":"01.2"}`, 400},
		{"data over 10240", `{"name":"e","channel":"ok","data":"` + strings.Repeat("d", 10241) + `"}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.wantAPIError(t, appBasic, "POST", "/events", nil, tc.body, tc.status)
		})
	}
	a.expectNothing(100 * time.Millisecond)
	// data of exactly 10240 bytes is fine.
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"e","channel":"ok","data":"`+strings.Repeat("d", 10240)+`"}`, 200, `{}`)
	a.expectEvent("e")
	// Names merely containing a reserved prefix are fine (anchored).
	s.wantAPI(t, appBasic, "POST", "/events", nil, `{"name":"App\\Events\\pusher:x","channel":"ok","data":"x"}`, 200, `{}`)
	a.expectRaw(`{"event":"App\\Events\\pusher:x","channel":"ok","data":"x"}`)
}

func TestHTTPAuthErrors(t *testing.T) {
	s := startServer(t, nil)
	body := []byte(`{"name":"e","channel":"ok","data":"x"}`)
	path := "/apps/100001/events"
	now := time.Now()
	send := func(v url.Values) (int, map[string]any) {
		return s.rawRequest(t, "POST", path+"?"+v.Encode(), body)
	}
	sign := func(key, secret string, at time.Time) url.Values {
		return testkit.SignedQuery("POST", path, key, secret, nil, body, at)
	}
	// Baseline.
	if st, b := send(sign(appBasic.key, appBasic.secret, now)); st != 200 || len(b) != 0 {
		t.Fatalf("baseline %d %v", st, b)
	}
	cases := map[string]url.Values{
		"wrong secret":   sign(appBasic.key, "nope", now),
		"old timestamp":  sign(appBasic.key, appBasic.secret, now.Add(-601*time.Second)),
		"future":         sign(appBasic.key, appBasic.secret, now.Add(601*time.Second)),
		"wrong auth_key": sign("key-full", appBasic.secret, now),
	}
	bad := sign(appBasic.key, appBasic.secret, now)
	bad.Set("body_md5", strings.Repeat("0", 32))
	// Signed as for no body, with the wrong body_md5 or none.
	cases["bad body_md5 (re-signed)"] = testkit.SignedQuery("POST", path, appBasic.key, appBasic.secret, url.Values{"body_md5": {strings.Repeat("0", 32)}}, nil, now)
	cases["bad body_md5"] = bad
	cases["missing body_md5"] = testkit.SignedQuery("POST", path, appBasic.key, appBasic.secret, nil, nil, now)
	unsigned := sign(appBasic.key, appBasic.secret, now)
	unsigned.Del("auth_signature")
	cases["no signature"] = unsigned
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			st, b := send(v)
			checkErrorBody(t, st, b, 401)
		})
	}
	// A disabled app → 403 once the request is correctly signed; unsigned → 401.
	s.wantAPIError(t, appOff, "POST", "/events", nil, string(body), 403)
	st, b := s.rawRequest(t, "POST", "/apps/100003/events", body)
	checkErrorBody(t, st, b, 401)
	// Unknown app → 404.
	st, b = s.signedRequest(t, "POST", "/apps/999/events", "key-basic", "secret-basic", nil, body)
	checkErrorBody(t, st, b, 404)
	st, b = s.signedRequest(t, "GET", "/apps/999/channels", "key-basic", "secret-basic", nil, nil)
	checkErrorBody(t, st, b, 404)
	// Unknown routes → 404.
	for _, p := range []string{"/nope", "/apps/100001/nope", "/apps/100001/channels/a/b/c"} {
		st, b := s.signedRequest(t, "GET", p, "key-basic", "secret-basic", nil, nil)
		checkErrorBody(t, st, b, 404)
	}
	// Wrong method on a known route → 405.
	for _, m := range [][2]string{{"GET", "/events"}, {"PUT", "/events"}, {"GET", "/batch_events"}, {"POST", "/channels"}, {"DELETE", "/channels/x"}, {"GET", "/users/u/terminate_connections"}} {
		s.wantAPIError(t, appBasic, m[0], m[1], nil, "", 405)
	}
	// Body over 1 MiB → 413.
	big := make([]byte, 1<<20+1)
	for i := range big {
		big[i] = ' '
	}
	st, b = s.signedRequest(t, "POST", path, "key-basic", "secret-basic", nil, big)
	checkErrorBody(t, st, b, 413)
}

func TestHTTPChannels(t *testing.T) {
	s := startServer(t, nil)
	a, b := s.connect(t, "key-basic"), s.connect(t, "key-basic")
	a.subscribe("news", nil)
	b.subscribe("news", nil)
	a.subscribe("sports", nil)
	a.subscribePresence(appBasic, "presence-one", `{"user_id":1}`)
	b.subscribePresence(appBasic, "presence-one", `{"user_id":2}`)
	a.expectEvent("pusher_internal:member_added")
	a.subscribePresence(appBasic, "presence-two", `{"user_id":1}`)
	a.signin(appBasic, `{"id":"me"}`)
	a.subscribe("#server-to-user-me", nil)
	a.subscribe("cache-c", nil)
	a.expectRaw(`{"event":"pusher:cache_miss","channel":"cache-c"}`)
	s.publish(t, appBasic, "cache-c", "ev", "cached")
	a.expectRaw(`{"event":"ev","channel":"cache-c","data":"cached"}`)

	s.wantAPI(t, appBasic, "GET", "/channels", nil, "", 200,
		`{"channels":{"news":{},"sports":{},"presence-one":{},"presence-two":{},"cache-c":{}}}`)
	s.wantAPI(t, appBasic, "GET", "/channels", q("filter_by_prefix", "presence-"), "", 200,
		`{"channels":{"presence-one":{},"presence-two":{}}}`)
	s.wantAPI(t, appBasic, "GET", "/channels", q("filter_by_prefix", "presence-", "info", "user_count"), "", 200,
		`{"channels":{"presence-one":{"user_count":2},"presence-two":{"user_count":1}}}`)
	s.wantAPI(t, appBasic, "GET", "/channels", q("filter_by_prefix", "spo"), "", 200, `{"channels":{"sports":{}}}`)
	s.wantAPI(t, appBasic, "GET", "/channels", q("filter_by_prefix", "zzz"), "", 200, `{"channels":{}}`)
	s.wantAPIError(t, appBasic, "GET", "/channels", q("info", "user_count"), "", 400)
	s.wantAPIError(t, appBasic, "GET", "/channels", q("filter_by_prefix", "news", "info", "user_count"), "", 400)

	// GET /channels/{C}
	s.wantAPI(t, appBasic, "GET", "/channels/news", nil, "", 200, `{"occupied":true}`)
	s.wantAPI(t, appBasic, "GET", "/channels/news", q("info", "subscription_count"), "", 200, `{"occupied":true,"subscription_count":2}`)
	s.wantAPI(t, appBasic, "GET", "/channels/empty", q("info", "subscription_count"), "", 200, `{"occupied":false,"subscription_count":0}`)
	s.wantAPI(t, appBasic, "GET", "/channels/presence-one", q("info", "user_count"), "", 200, `{"occupied":true,"user_count":2}`)
	s.wantAPI(t, appBasic, "GET", "/channels/cache-c", q("info", "cache,subscription_count"), "", 200, "")
	st, body := s.api(t, appBasic, "GET", "/channels/cache-c", q("info", "cache,subscription_count"), "")
	cache, _ := body["cache"].(map[string]any)
	if st != 200 || body["occupied"] != true || body["subscription_count"] != float64(1) || cache["data"] != "cached" || cache["ttl"].(float64) < 1790 || cache["ttl"].(float64) > 1800 {
		t.Fatalf("cache info %d %v", st, body)
	}
	s.wantAPI(t, appBasic, "GET", "/channels/cache-empty", q("info", "cache"), "", 200, `{"occupied":false,"cache":null}`)
	s.wantAPIError(t, appBasic, "GET", "/channels/news", q("info", "user_count"), "", 400)
	s.wantAPIError(t, appBasic, "GET", "/channels/presence-one", q("info", "subscription_count"), "", 400)
	s.wantAPIError(t, appBasic, "GET", "/channels/news", q("info", "cache"), "", 400)
	s.wantAPIError(t, appBasic, "GET", "/channels/bad%20name", nil, "", 400)

	// /users
	s.wantAPI(t, appBasic, "GET", "/channels/presence-one/users", nil, "", 200, `{"users":[{"id":"1"},{"id":"2"}]}`)
	s.wantAPI(t, appBasic, "GET", "/channels/presence-empty/users", nil, "", 200, `{"users":[]}`)
	s.wantAPIError(t, appBasic, "GET", "/channels/news/users", nil, "", 400)
	s.wantAPIError(t, appBasic, "GET", "/channels/private-x/users", nil, "", 400)

	// #server-to-user- in paths arrives as %23.
	s.wantAPI(t, appBasic, "GET", "/channels/%23server-to-user-me", q("info", "subscription_count"), "", 200, `{"occupied":true,"subscription_count":1}`)
	s.wantAPI(t, appBasic, "POST", "/channels/%23server-to-user-me/events", q("name", "to-me"), `hi`, 200, `{}`)
	a.expectRaw(`{"event":"to-me","channel":"#server-to-user-me","data":"hi"}`)

	// After everyone leaves the lists are empty.
	a.conn.Close()
	b.conn.Close()
	testkit.Eventually(t, 3*time.Second, "an empty channel list after everyone left", func() bool {
		_, body := s.api(t, appBasic, "GET", "/channels", nil, "")
		return mustJSON(t, body) == `{"channels":{}}`
	})
}

func TestHTTPTerminateUnsignedAndUnknown(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.signin(appBasic, `{"id":"victim"}`)
	// An unsigned terminate does nothing.
	st, b := s.rawRequest(t, "POST", "/apps/100001/users/victim/terminate_connections", []byte(`{}`))
	checkErrorBody(t, st, b, 401)
	c.pingPong()
	s.wantAPI(t, appBasic, "POST", "/users/victim/terminate_connections", nil, `{}`, 200, `{}`)
	c.expectError(4009)
	c.expectClose(4009)
}

// Pusher SDKs send raw, unescaped queries (docs/protocol.md §14.1): commas and
// semicolons verbatim, signed as sent.
func TestHTTPRawUnescapedQuery(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	c.subscribe("a;b", nil)
	c.subscribe("a;c", nil)
	c.subscribe("cache-r", nil)
	c.expectRaw(`{"event":"pusher:cache_miss","channel":"cache-r"}`)
	rawGet := func(path, extra string) (int, map[string]any) {
		t.Helper()
		query := testkit.AuthParams("key-basic", time.Now(), nil).Encode() + "&" + extra
		return s.rawRequest(t, "GET", path+"?"+query+"&auth_signature="+testkit.Signature("secret-basic", "GET", path, query), nil)
	}
	st, body := rawGet("/apps/100001/channels", "filter_by_prefix=a;b")
	if st != 200 || mustJSON(t, body) != `{"channels":{"a;b":{}}}` {
		t.Fatalf("raw ; query: %d %v", st, body)
	}
	st, body = rawGet("/apps/100001/channels/cache-r", "info=subscription_count,cache")
	if st != 200 || mustJSON(t, body) != `{"cache":null,"occupied":true,"subscription_count":1}` {
		t.Fatalf("raw , query: %d %v", st, body)
	}
}

// GET /channels?info=subscription_count gives every listed channel its
// connection count, whether or not the app pushes counts (§13, §14.2).
func TestHTTPChannelsSubscriptionCount(t *testing.T) {
	s := startServer(t, nil)
	for _, app := range []testApp{appBasic, appFull} { // subscription_count off, on
		a, b, c := s.connect(t, app.key), s.connect(t, app.key), s.connect(t, app.key)
		a.subscribe("tally", nil)
		b.subscribe("tally", nil)
		c.subscribePresence(app, "presence-tally", `{"user_id":"1"}`)
		s.wantAPI(t, app, "GET", "/channels", q("info", "subscription_count"), "", 200,
			`{"channels":{"tally":{"subscription_count":2},"presence-tally":{"subscription_count":1}}}`)
		s.wantAPI(t, app, "GET", "/channels", q("filter_by_prefix", "presence-", "info", "user_count,subscription_count"), "", 200,
			`{"channels":{"presence-tally":{"user_count":1,"subscription_count":1}}}`)
		s.wantAPI(t, app, "GET", "/channels/tally", q("info", "subscription_count"), "", 200, `{"occupied":true,"subscription_count":2}`)
		// user_count keeps its prefix rule; unknown attributes stay a 400.
		s.wantAPIError(t, app, "GET", "/channels", q("info", "subscription_count,user_count"), "", 400)
		s.wantAPIError(t, app, "GET", "/channels", q("info", "subscription_count,cache"), "", 400)
	}
}
