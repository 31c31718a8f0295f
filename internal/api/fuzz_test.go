package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
)

// The targets here drive the whole HTTP stack in process: each request is
// parsed from raw bytes by net/http as the server parses it, signed as
// testApp (or sent with the admin token), and served by API.ServeHTTP with
// a real SQLite store, so every query and body decoder is reached with
// inputs that pass authentication. Every response must be JSON with a 2xx
// or a 4xx status, and every 4xx must be {"error": …, "code": status}.

// managedApp is API-managed (in the store, not the config), so the admin
// bodies that change an app go through to the store.
var managedApp = func() apps.App {
	a := apps.Generate("fuzz-managed")
	a.ID, a.Key, a.Secret = "900002", "managed-key", "managed-secret"
	return a
}()

type fuzzEnv struct {
	api *API
	now time.Time
}

// newFuzzEnv serves testApp, configApp and managedApp over a SQLite store.
func newFuzzEnv(f testing.TB) *fuzzEnv {
	f.Helper()
	st := openTestStore(f)
	ctx := context.Background()
	if err := st.PutApp(ctx, store.NewStoredApp(configApp, true)); err != nil {
		f.Fatal(err)
	}
	if err := st.PutApp(ctx, store.NewStoredApp(managedApp, false)); err != nil {
		f.Fatal(err)
	}
	app := *testApp()
	app.Persistence.Prefixes = []string{"persist-"} // triggers there take the store path
	e := &fuzzEnv{now: time.Now()}
	e.api, _ = newTestAPI(f, st, Options{Store: st, AdminToken: adminToken, Now: func() time.Time { return e.now }}, app, configApp, managedApp)
	return e
}

// signQuery appends the auth parameters to raw (a fuzzed query, possibly
// empty) and signs the whole query for method and the decoded path, as a
// Pusher client would; a fuzzed auth_* key merges with ours (repeated keys
// join with ",") and is refused with a 401, which the checks accept.
func (e *fuzzEnv) signQuery(method, decodedPath, raw string, body []byte, key, secret string) string {
	full := testkit.AuthParams(key, e.now, body).Encode()
	if raw != "" {
		full = raw + "&" + full
	}
	return full + "&auth_signature=" + testkit.Signature(secret, method, decodedPath, full)
}

// serve parses the request from its wire form, as net/http's server does,
// and serves it. ok is false when the server would refuse the request
// before any handler (a request line the fuzzer broke).
func (e *fuzzEnv) serve(method, target, token string, body []byte) (rec *httptest.ResponseRecorder, ok bool) {
	var wire bytes.Buffer
	fmt.Fprintf(&wire, "%s %s HTTP/1.1\r\nHost: pushi.test\r\nContent-Length: %d\r\n", method, target, len(body))
	if token != "" {
		fmt.Fprintf(&wire, "Authorization: Bearer %s\r\n", token)
	}
	wire.WriteString("\r\n")
	wire.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil || req.Method != method {
		return nil, false
	}
	rec = httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return rec, true
}

// checkResponse asserts the contract every decoder must keep: JSON, a 2xx
// or a 4xx, and a 4xx carries {"error": non-empty string, "code": status}.
func checkResponse(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	status := rec.Code
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json (status %d: %.200s)", what, ct, status, rec.Body.Bytes())
	}
	if status/100 != 2 && status/100 != 4 {
		t.Fatalf("%s: status %d, want a 2xx or a 4xx: %.300s", what, status, rec.Body.Bytes())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: status %d, body is not a JSON object: %v: %.200s", what, status, err, rec.Body.Bytes())
	}
	if status/100 == 4 {
		checkError(t, status, out)
	}
}

// queryRoutes are the routes whose query (and path segment) is decoded;
// %s is replaced by the escaped fuzzed path segment.
var queryRoutes = []struct {
	method, path string
	auth         string // "app" (testApp's signature), "config" (configApp's), "admin" (bearer token)
}{
	{"GET", "/apps/1/channels", "app"},                             // filter_by_prefix, info
	{"GET", "/apps/1/channels/%s", "app"},                          // info
	{"GET", "/apps/1/channels/%s/users", "app"},                    // presence members
	{"GET", "/apps/1/channels/%s/events", "app"},                   // history: limit, before, after
	{"POST", "/apps/1/channels/%s/events", "app"},                  // legacy trigger: name, socket_id
	{"GET", "/apps/1/users/%s/events", "app"},                      // inbox: limit, before
	{"POST", "/apps/1/users/%s/terminate_connections", "app"},      // user termination
	{"GET", "/apps/1/subscriptions", "app"},                        // follows: user_id, event, channel, limit, cursor
	{"GET", "/apps", "admin"},                                      // admin list: limit, cursor
	{"POST", "/apps/" + configApp.ID + "/secret", "config"},        // signature by the current secret only
	{"GET", "/apps/" + configApp.ID + "/vapid_key", "admin"},       // public; the query is ignored
	{"POST", "/apps/" + configApp.ID + "/web_push/vapid", "admin"}, // bearer; body empty
}

// FuzzQuery sends a correctly signed request with a fuzzed raw query (and
// path segment) to every route that decodes its query or path.
func FuzzQuery(f *testing.F) {
	seeds := []struct {
		route   int
		segment string
		query   string
	}{
		{0, "", ""},
		{0, "", "filter_by_prefix=presence-&info=user_count"},
		{0, "", "filter_by_prefix=private-"},
		{0, "", "info=user_count"},
		{0, "", "info=subscription_count&filter_by_prefix=presence-"},
		{1, "presence-room", "info=user_count"},
		{1, "my-channel", "info=subscription_count"},
		{1, "cache-news", "info=cache,subscription_count"},
		{1, "presence-room", "info=subscription_count,user_count"},
		{1, "private-encrypted-x", "info=%20user_count%2C"},
		{2, "presence-room", ""},
		{2, "news", ""},
		{3, "persist-news", "limit=10&before=5"},
		{3, "persist-news", "after=0&limit=1000"},
		{3, "persist-news", "since=5&limit=10"},
		{3, "news", "before=0"},
		{3, "news", "before=1&after=2"},
		{3, "news", "limit=0"},
		{3, "news", "limit=-1&before=9223372036854775808"},
		{4, "news", "name=my-event&socket_id=123.456"},
		{4, "news", "name=pusher:x"},
		{5, "42", "limit=50"},
		{5, "42", "before=0189c2a4-7f1e-7a3b-9c1d-2e3f4a5b6c7d&limit=2"},
		{5, "a b", "before=nope"},
		{6, "42", ""},
		{6, "a=b@c", ""},
		{7, "", "user_id=42&limit=100"},
		{7, "", "event=news&cursor=abc"},
		{7, "", "channel=presence-room&user_id=u"},
		{7, "", "cursor=eyJ1IjoiNDIifQ"},
		{8, "", "limit=1&cursor=OTAwMDAx"},
		{8, "", "cursor=%%%"},
		{9, "", ""},
		{10, "", "x=1"},
		{11, "", ""},
		{0, "", "auth_key=other&auth_signature=00"},
		{0, "", "%zz=%&;=;&&="},
		{1, "../x", "info=user_count"},
		{3, "news", "LIMIT=5&li%6Dit=1"},         // non-canonical keys: 400
		{7, "", "User_Id=1&user_id=2&user_id=3"}, // repeated keys: 400
		{8, "", "Limit=1"},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.segment, s.query)
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, route uint8, segment, query string) {
		if rec, what, ok := e.queryRequest(int(route), segment, query); ok {
			checkResponse(t, what, rec)
		}
	})
}

// queryRequest sends route's request with segment and the fuzzed query;
// ok is false when net/http or ServeMux would stop it before any handler.
func (e *fuzzEnv) queryRequest(route int, segment, query string) (rec *httptest.ResponseRecorder, what string, ok bool) {
	rt := queryRoutes[route%len(queryRoutes)]
	decoded, sent := rt.path, rt.path
	if strings.Contains(rt.path, "%s") {
		decoded = fmt.Sprintf(rt.path, segment)
		sent = fmt.Sprintf(rt.path, url.PathEscape(segment))
	}
	if path.Clean(decoded) != decoded {
		return nil, "", false // ServeMux redirects to the clean path before routing
	}
	target, token := sent+"?"+query, ""
	switch rt.auth {
	case "app":
		target = sent + "?" + e.signQuery(rt.method, decoded, query, nil, "k", "s")
	case "config":
		target = sent + "?" + e.signQuery(rt.method, decoded, query, nil, configApp.Key, configApp.Secret)
	case "admin":
		token = adminToken
	}
	rec, ok = e.serve(rt.method, target, token, nil)
	return rec, rt.method + " " + target, ok
}

// FuzzBatchBody posts a fuzzed, correctly signed body to batch_events (and
// to events, to cover the whole HTTP path after FuzzTriggerBody's decode).
func FuzzBatchBody(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"channel":"a","name":"e","data":"x"}]}`,
		`{"batch":[{"channel":"presence-a","name":"e","data":{"k":[1,2]},"info":"user_count,subscription_count"},{"channel":"b","name":"f","data":"y","socket_id":"1.2"}]}`,
		`{"batch":[{"channel":"persist-a","name":"e","data":"x"},{"channel":"a","name":"e","data":"x","persist":true}]}`,
		`{"batch":[{"channels":["a"],"name":"e","data":"x"}]}`,
		`{"batch":[]}`,
		`{"batch":null}`,
		`{"batch":{}}`,
		`{"batch":[null]}`,
		`{"batch":[{"channel":"#server-to-user-42","name":"e","data":"x"}]}`,
		`[]`,
		``,
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte(`{"name":"e","channels":["a","presence-b"],"data":"x","info":"user_count,subscription_count"}`))
	f.Add(true, []byte(`{"name":"e","channel":"persist-a","data":"x"}`))
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, events bool, body []byte) {
		p := "/apps/1/batch_events"
		if events {
			p = "/apps/1/events"
		}
		e.postSigned(t, p, body)
	})
}

// FuzzFollowsBody posts a fuzzed, correctly signed body to subscribe or
// unsubscribe.
func FuzzFollowsBody(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"42","event":"news"}`,
		`{"user_id":42,"channel":"presence-room"}`,
		`{"user_id":"a=b@c","event":"private-x","channel":"private-x"}`,
		`{"user_id":1.5,"event":"news"}`,
		`{"user_id":"42","event":"personal-7"}`,
		`{"user_id":"42","event":"news","channel":"other"}`,
		`{"user_id":"\u0000","event":"news"}`,
		`{"user_id":-9223372036854775808,"event":"a"}`,
		`[]`,
		``,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, unfollow bool, body []byte) {
		p := "/apps/1/subscribe"
		if unfollow {
			p = "/apps/1/unsubscribe"
		}
		e.postSigned(t, p, body)
	})
}

// adminBodyRoutes are the admin routes that decode a body (PATCH's merge
// is FuzzAppPatch's).
var adminBodyRoutes = []string{
	"/apps",                              // create: the app, name required
	"/apps/" + managedApp.ID + "/secret", // rotate: grace_s
	"/apps/" + managedApp.ID + "/web_push/vapid", // replace: private_key
}

// FuzzAdminBody posts a fuzzed body with the admin token to app creation,
// secret rotation and VAPID replacement.
func FuzzAdminBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"fuzz-app"}`,
		`{"name":"with-id","id":"777","key":"key-777","secret":"secret-777"}`,
		`{"name":"x","limits":{"max_batch":5},"persistence":{"prefixes":["a-"],"default":true}}`,
		`{"name":"x","apn":null,"smtp_url":null}`,
		`{"name":"x","web_push":{"vapid_private_key":"AAAA"}}`,
		`{"name":"x","web_push":{"vapid_public_key":"AAAA"}}`,
		`{"name":"x","client_events":null}`,
		`{"name":"x","unknown":1}`,
		`{"name":""}`,
		`{"name":"x"} trailing`,
		`[]`,
		``,
	} {
		f.Add(uint8(0), []byte(s))
	}
	for _, s := range []string{`{"grace_s":0}`, `{"grace_s":86400}`, `{"grace_s":-1}`, `{"grace_s":1e9}`, `{"grace_s":null}`, `{}`, ``} {
		f.Add(uint8(1), []byte(s))
	}
	for _, s := range []string{`{"private_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, `{"private_key":""}`, `{"private_key":null}`, `{}`, ``} {
		f.Add(uint8(2), []byte(s))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		p := adminBodyRoutes[int(route)%len(adminBodyRoutes)]
		rec, ok := e.serve("POST", p, adminToken, body)
		if !ok {
			t.Fatal("a well-formed request was not parsed")
		}
		checkResponse(t, fmt.Sprintf("POST %s %q", p, body), rec)
	})
}

// TestFuzzHarnessReachesHandlers keeps the targets honest: requests the
// harness builds from valid inputs pass authentication and succeed, so the
// fuzzed ones reach the decoders.
func TestFuzzHarnessReachesHandlers(t *testing.T) {
	e := newFuzzEnv(t)
	for _, c := range []struct {
		route          int
		segment, query string
		status         int
	}{
		{0, "", "filter_by_prefix=presence-&info=user_count", 200},
		{1, "presence-room", "info=user_count", 200},
		{1, "my-channel", "info=subscription_count", 200},
		{1, "cache-news", "info=cache", 200},
		{2, "presence-room", "", 200},
		{3, "persist-news", "limit=10&before=5", 200},
		{4, "news", "name=my-event", 200},
		{5, "42", "limit=50", 200},
		{6, "42", "", 200},
		{7, "", "user_id=42&limit=100", 200},
		{8, "", "limit=1", 200},
		{9, "", "", 403}, // signed, then refused: config apps are read-only
		{10, "", "", 200},
		{11, "", "", 403},
		{3, "news", "limit=0", 400},
		{0, "", "auth_key=other", 401},
	} {
		rec, what, ok := e.queryRequest(c.route, c.segment, c.query)
		if !ok || rec.Code != c.status {
			t.Errorf("%s: ok %v, got %s, want %d", what, ok, describe(rec), c.status)
			continue
		}
		checkResponse(t, what, rec)
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"/apps/1/batch_events", `{"batch":[{"channel":"a","name":"e","data":"x"},{"channel":"persist-a","name":"e","data":"x"}]}`, 200},
		{"/apps/1/events", `{"name":"e","channel":"a","data":"x"}`, 200},
		{"/apps/1/subscribe", `{"user_id":"42","event":"news"}`, 200},
		{"/apps/1/unsubscribe", `{"user_id":"42","event":"news"}`, 200},
	} {
		rec, ok := e.serve("POST", c.path+"?"+e.signQuery("POST", c.path, "", []byte(c.body), "k", "s"), "", []byte(c.body))
		if !ok || rec.Code != c.status {
			t.Errorf("POST %s: ok %v, got %s, want %d", c.path, ok, describe(rec), c.status)
			continue
		}
		checkResponse(t, c.path, rec)
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"/apps", `{"name":"harness-app"}`, 201},
		{"/apps/" + managedApp.ID + "/secret", `{"grace_s":0}`, 200},
		{"/apps/" + managedApp.ID + "/web_push/vapid", ``, 200},
	} {
		rec, ok := e.serve("POST", c.path, adminToken, []byte(c.body))
		if !ok || rec.Code != c.status {
			t.Errorf("POST %s: ok %v, got %s, want %d", c.path, ok, describe(rec), c.status)
			continue
		}
		checkResponse(t, c.path, rec)
	}
}

func describe(rec *httptest.ResponseRecorder) string {
	if rec == nil {
		return "no response"
	}
	return fmt.Sprintf("%d %s", rec.Code, rec.Body.Bytes())
}

// postSigned posts body to p signed as app 1 and checks the answer; the
// signature must never be what is refused.
func (e *fuzzEnv) postSigned(t *testing.T, p string, body []byte) {
	rec, ok := e.serve("POST", p+"?"+e.signQuery("POST", p, "", body, "k", "s"), "", body)
	if !ok {
		t.Fatal("a well-formed request was not parsed")
	}
	checkResponse(t, fmt.Sprintf("POST %s %q", p, body), rec)
	if rec.Code == http.StatusUnauthorized {
		t.Fatalf("POST %s %q: the signature was refused: %s", p, body, rec.Body.Bytes())
	}
}
