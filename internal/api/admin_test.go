package api

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
)

const adminToken = "test-admin-token-0123456789"

// configApp is declared in the "config": read-only through the API.
var configApp = func() apps.App {
	a := apps.Generate("from-config")
	a.ID, a.Key, a.Secret = "900001", "config-key", "config-secret"
	return a
}()

type adminEnv struct {
	t     *testing.T
	url   string
	store store.Store
	reg   *apps.Writable
	now   time.Time
}

// newAdminEnv serves the API over a real store, with the config app in
// the store and the registry as the server puts it there at start.
func newAdminEnv(t *testing.T, token string, wrap func(store.Store) store.Store) *adminEnv {
	t.Helper()
	st := openTestStore(t)
	if err := st.PutApp(context.Background(), store.NewStoredApp(configApp, true)); err != nil {
		t.Fatal(err)
	}
	e := &adminEnv{t: t, store: st, now: time.Now()}
	served := st
	if wrap != nil {
		served = wrap(st)
	}
	// The admin routes use the API's store; the node has none.
	a, reg := newTestAPI(t, nil, Options{Store: served, AdminToken: token, Now: func() time.Time { return e.now }}, configApp)
	e.reg = reg
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// do sends a request with the admin token (token "" sends none).
func (e *adminEnv) do(method, path, token, body string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("%s %s: not a JSON object (%s): %s", method, path, resp.Header.Get("Content-Type"), raw)
	}
	return resp.StatusCode, out, resp.Header
}

// admin sends an admin request and wants status.
func (e *adminEnv) admin(method, path, body string, status int) map[string]any {
	e.t.Helper()
	got, out, _ := e.do(method, path, adminToken, body)
	if got != status {
		e.t.Fatalf("%s %s %.200s: status %d %v, want %d", method, path, body, got, out, status)
	}
	if status >= 400 {
		checkError(e.t, got, out)
	}
	return out
}

// adminErr sends an admin request, wants a 4xx error naming want.
func (e *adminEnv) adminErr(method, path, body string, status int, want string) {
	e.t.Helper()
	out := e.admin(method, path, body, status)
	if msg, _ := out["error"].(string); !strings.Contains(msg, want) {
		e.t.Fatalf("%s %s %.200s: error %q, want it to mention %q", method, path, body, msg, want)
	}
}

func checkError(t *testing.T, status int, out map[string]any) {
	t.Helper()
	msg, _ := out["error"].(string)
	code, _ := out["code"].(float64)
	if msg == "" || int(code) != status || len(out) != 2 {
		t.Fatalf("error body %v, want {error, code:%d}", out, status)
	}
}

// signed sends a Pusher-signed request with key and secret.
func (e *adminEnv) signed(method, path, key, secret, body string) (int, map[string]any) {
	e.t.Helper()
	q := testkit.SignedQuery(method, path, key, secret, nil, []byte(body), e.now)
	status, out, _ := e.do(method, path+"?"+q.Encode(), "", body)
	return status, out
}

func (e *adminEnv) create(body string) map[string]any {
	e.t.Helper()
	return e.admin("POST", "/apps", body, http.StatusCreated)["app"].(map[string]any)
}

func (e *adminEnv) appCount() int {
	e.t.Helper()
	list, err := e.store.ListApps(context.Background(), "", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list)
}

func p8Key(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestAdminTokenRequired(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	routes := [][2]string{{"POST", "/apps"}, {"GET", "/apps"}, {"GET", "/apps/900001"}, {"PATCH", "/apps/900001"},
		{"DELETE", "/apps/900001"}, {"POST", "/apps/900001/secret"}, {"POST", "/apps/900001/web_push/vapid"}}
	for _, r := range routes {
		for _, token := range []string{"", "wrong-token-0123456789", adminToken + "x", strings.ToUpper(adminToken)} {
			status, out, h := e.do(r[0], r[1], token, `{"name":"x"}`)
			checkError(t, status, out)
			if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s with %q: %d %v", r[0], r[1], token, status, out)
			}
		}
	}
	// Other schemes are not the token.
	req, _ := http.NewRequest("GET", e.url+"/apps", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("basic auth: %v %v", resp, err)
	}
	if e.appCount() != 1 {
		t.Fatal("an unauthorised request changed the store")
	}
	e.admin("GET", "/apps", "", 200)
	e.admin("PUT", "/apps", "", http.StatusMethodNotAllowed)

	// No token configured: closed, never open.
	closed := newAdminEnv(t, "", nil)
	for _, token := range []string{"", "anything-0123456789"} {
		if status, out, _ := closed.do("GET", "/apps", token, ""); status != 401 {
			t.Fatalf("tokenless API answered %d %v", status, out)
		}
	}
}

func TestAdminCreateGetList(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	app := e.create(`{"name":"shop","client_events":true,"limits":{"max_batch":3}}`)
	id, _ := app["id"].(string)
	key, _ := app["key"].(string)
	secret, _ := app["secret"].(string)
	if _, err := strconv.Atoi(id); err != nil || len(id) != 9 || len(key) != 20 || len(secret) != 64 {
		t.Fatalf("generated credentials: %v", app)
	}
	limits := app["limits"].(map[string]any)
	if app["client_events"] != true || limits["max_batch"] != 3.0 || limits["max_event_bytes"] != 10240.0 || app["enabled"] != true {
		t.Fatalf("settings not merged over defaults: %v", app)
	}
	wp := app["web_push"].(map[string]any)
	pub, err := base64.RawURLEncoding.DecodeString(wp["vapid_public_key"].(string))
	if err != nil || len(pub) != 65 || wp["vapid_subject"] != "mailto:noreply@pushi.io" || wp["ttl_s"] != 86400.0 {
		t.Fatalf("web_push %v", wp)
	}
	if app["apn"] != nil || app["smtp_url"] != nil || app["handlers"].(map[string]any)["enabled"] != true {
		t.Fatalf("defaults: %v", app)
	}
	if got := e.reg.ByKey(key); got == nil || got.ID != id || got.Secret != secret {
		t.Fatal("created app is not registered")
	}
	got := e.admin("GET", "/apps/"+id, "", 200)["app"].(map[string]any)
	if mustJSONString(t, got) != mustJSONString(t, app) {
		t.Fatalf("get %v\nwant %v", got, app)
	}

	// Migration: id, key and secret given.
	m := e.create(`{"name":"imported","id":"legacy_app-1","key":"legacykey","secret":"legacysecret"}`)
	if m["id"] != "legacy_app-1" || m["key"] != "legacykey" || m["secret"] != "legacysecret" {
		t.Fatalf("imported %v", m)
	}

	list := e.admin("GET", "/apps", "", 200)
	if len(list["apps"].([]any)) != 3 || list["next"] != nil {
		t.Fatalf("list %v", list)
	}
	e.adminErr("GET", "/apps/nope", "", 404, "Unknown app")
}

func TestAdminCreateRefusesBadInput(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	e.create(`{"name":"taken","id":"taken-id","key":"taken-key"}`)
	cases := []struct {
		body   string
		status int
		want   string
	}{
		{``, 400, "empty"},
		{`{"name":`, 400, "Malformed JSON"},
		{`{"name":"a"} {}`, 400, "Malformed JSON"},
		{`["name"]`, 400, "JSON object"},
		{`{"name":"a","nmae":"b"}`, 400, `Unknown field "nmae"`},
		{`{"name":"a","limits":{"max_evnt_bytes":1}}`, 400, "Unknown field"},
		{`{"name":"a","enabled":"yes"}`, 400, `"enabled" has the wrong type`},
		{`{"name":"a","allowed_origins":null}`, 400, `"allowed_origins" cannot be null`},
		{`{"name":"a","limits":{"max_batch":null}}`, 400, `"limits.max_batch" cannot be null`},
		{`{"client_events":true}`, 400, `"name" is required`},
		{`{"name":"  "}`, 400, `"name" is required`},
		{`{"name":"a","id":"bad id"}`, 400, "must be 1-64 of [A-Za-z0-9_-]"},
		{`{"name":"a","id":"` + strings.Repeat("x", 65) + `"}`, 400, "must be 1-64"},
		{`{"name":"a","key":"a/b"}`, 400, "key must be"},
		{`{"name":"a","limits":{"max_batch":0}}`, 400, "max_batch"},
		{`{"name":"a","webhooks":[{"url":"not a url"}]}`, 400, "webhooks[0].url"},
		{`{"name":"a","web_push":{"vapid_public_key":"BAAA"}}`, 400, "vapid_public_key"},
		{`{"name":"a","web_push":{"vapid_private_key":"short"}}`, 400, "vapid_private_key"},
		{`{"name":"a","apn":{"team_id":"ABCDE12345","key_id":"KEY1234567","topic":"t"}}`, 400, "key_p8 is required"},
		{`{"name":"a","smtp_url":"http://x"}`, 400, "smtp_url"},
		{`{"name":"taken"}`, 409, `named "taken"`},
		{`{"name":"b","id":"taken-id"}`, 409, "taken-id"},
		{`{"name":"b","key":"taken-key"}`, 409, "taken-key"},
		{`{"name":"from-config"}`, 409, "from-config"},
		{`{"name":"b","id":"900001"}`, 409, "900001"},
	}
	for _, tc := range cases {
		e.adminErr("POST", "/apps", tc.body, tc.status, tc.want)
	}
	if n := e.appCount(); n != 2 || len(e.reg.All()) != 2 {
		t.Fatalf("refused creates left %d stored, %d registered apps", n, len(e.reg.All()))
	}
	// apn and smtp_url accept null: they are shown as null.
	e.create(`{"name":"nulls","apn":null,"smtp_url":null}`)
}

func TestAdminListPages(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	for i := 0; i < 4; i++ {
		e.create(`{"name":"app` + strconv.Itoa(i) + `","id":"p` + strconv.Itoa(i) + `"}`)
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		out := e.admin("GET", "/apps?limit=2"+cursor, "", 200)
		for _, a := range out["apps"].([]any) {
			ids = append(ids, a.(map[string]any)["id"].(string))
		}
		if out["next"] == nil {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(out["next"].(string))
		if pages > 3 {
			t.Fatal("pages do not end")
		}
	}
	if strings.Join(ids, ",") != "900001,p0,p1,p2,p3" {
		t.Fatalf("paged ids %v", ids)
	}
	if out := e.admin("GET", "/apps?limit=5", "", 200); len(out["apps"].([]any)) != 5 || out["next"] != nil {
		t.Fatalf("a full last page must end the list: %v", out["next"])
	}
	e.adminErr("GET", "/apps?limit=0", "", 400, "limit")
	e.adminErr("GET", "/apps?limit=1001", "", 400, "limit")
	e.adminErr("GET", "/apps?limit=x", "", 400, "limit")
	e.adminErr("GET", "/apps?cursor=!!", "", 400, "cursor")
}

func TestAdminPatch(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	app := e.create(`{"name":"p","allowed_origins":["https://a.example"],"limits":{"max_batch":3}}`)
	id := app["id"].(string)
	path := "/apps/" + id
	before := e.reg.ByID(id)

	out := e.admin("PATCH", path, `{"limits":{"client_event_rate":7},"handlers":{"client_events":true}}`, 200)["app"].(map[string]any)
	limits, handlers := out["limits"].(map[string]any), out["handlers"].(map[string]any)
	if limits["client_event_rate"] != 7.0 || limits["max_batch"] != 3.0 || handlers["enabled"] != true || handlers["client_events"] != true {
		t.Fatalf("objects not merged key by key: %v", out)
	}
	if r := e.reg.ByID(id); r.Limits.ClientEventRate != 7 || r.Limits.MaxBatch != 3 {
		t.Fatalf("registry not updated: %+v", r.Limits)
	}
	if before.Limits.ClientEventRate != 10 || before.AllowedOrigins[0] != "https://a.example" {
		t.Fatal("the app readers held was modified in place")
	}
	// Private webhook targets are refused unless the app allows them.
	if out["allow_private_targets"] != false {
		t.Fatalf("allow_private_targets %v, want false by default", out["allow_private_targets"])
	}
	if out = e.admin("PATCH", path, `{"allow_private_targets":true}`, 200)["app"].(map[string]any); out["allow_private_targets"] != true || !e.reg.ByID(id).AllowPrivateTargets {
		t.Fatalf("allow_private_targets not set: %v", out["allow_private_targets"])
	}
	out = e.admin("PATCH", path, `{"allowed_origins":["https://b.example"]}`, 200)["app"].(map[string]any)
	if o := out["allowed_origins"].([]any); len(o) != 1 || o[0] != "https://b.example" || before.AllowedOrigins[0] != "https://a.example" {
		t.Fatalf("arrays are replaced, and the old value kept: %v", out)
	}

	// A GET → PATCH round trip of the whole object is accepted unchanged.
	whole := e.admin("GET", path, "", 200)["app"]
	e.admin("PATCH", path, mustJSONString(t, whole), 200)

	stored := func() store.StoredApp {
		sa, err := e.store.App(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	snapshot := mustJSONString(t, stored().App)
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"id":"other"}`, 400, `"id" is immutable`},
		{`{"key":"other"}`, 400, `"key" is immutable`},
		{`{"secret":"other"}`, 400, "POST /apps/{app_id}/secret"},
		{`{"web_push":{"vapid_public_key":"` + configApp.WebPush.VAPIDPublicKey + `"}}`, 400, "derived"},
		{`{"web_push":{"vapid_private_key":""}}`, 400, "vapid_private_key"},
		{`{"name":"from-config"}`, 409, "from-config"},
		{`{"name":""}`, 400, "name"},
		{`{"limits":{"max_batch":-1}}`, 400, "max_batch"},
		{`{"enabled":null}`, 400, "cannot be null"},
		{`{"bogus":1}`, 400, "Unknown field"},
		{`{"limits":5}`, 400, "wrong type"},
		{`{`, 400, "Malformed"},
		{``, 400, "empty"},
	} {
		e.adminErr("PATCH", path, tc.body, tc.status, tc.want)
	}
	if mustJSONString(t, stored().App) != snapshot {
		t.Fatal("a refused PATCH changed the stored app")
	}

	// A new private key brings its public key.
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	privB64 := base64.RawURLEncoding.EncodeToString(priv.Bytes())
	out = e.admin("PATCH", path, `{"web_push":{"vapid_private_key":"`+privB64+`","ttl_s":60}}`, 200)["app"].(map[string]any)
	wp := out["web_push"].(map[string]any)
	if wp["vapid_public_key"] != base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()) || wp["ttl_s"] != 60.0 || wp["vapid_subject"] != "mailto:noreply@pushi.io" {
		t.Fatalf("web_push %v", wp)
	}

	// apn: set, merged key by key (key_p8 kept), then removed with null.
	key := p8Key(t)
	keyJSON, _ := json.Marshal(key)
	e.admin("PATCH", path, `{"apn":{"team_id":"ABCDE12345","key_id":"KEY1234567","key_p8":`+string(keyJSON)+`,"topic":"io.a"}}`, 200)
	out = e.admin("PATCH", path, `{"apn":{"topic":"io.b","sandbox":true}}`, 200)["app"].(map[string]any)
	apn := out["apn"].(map[string]any)
	if apn["topic"] != "io.b" || apn["team_id"] != "ABCDE12345" || apn["sandbox"] != true || stored().App.APN.KeyP8 != key {
		t.Fatalf("apn merge: %v", apn)
	}
	out = e.admin("PATCH", path, `{"apn":null,"smtp_url":"smtp://mail.example:2525"}`, 200)["app"].(map[string]any)
	if out["apn"] != nil || out["smtp_url"] != "smtp://mail.example:2525" || stored().App.APN != nil {
		t.Fatalf("apn null: %v", out)
	}

	e.adminErr("PATCH", "/apps/900001", `{"enabled":false}`, 403, "read-only")
	e.adminErr("PATCH", "/apps/nope", `{"enabled":false}`, 404, "Unknown app")
	e.adminErr("POST", "/apps/"+id, `{}`, 405, "not allowed")
}

func TestAdminWriteOnlyFieldsNeverReturned(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	privB64 := base64.RawURLEncoding.EncodeToString(priv.Bytes())
	key := p8Key(t)
	keyJSON, _ := json.Marshal(key)
	body := `{"name":"w","web_push":{"vapid_private_key":"` + privB64 + `"},"apn":{"team_id":"ABCDE12345","key_id":"KEY1234567","key_p8":` + string(keyJSON) + `,"topic":"io.w"}}`
	var responses []string
	raw := func(method, path, body string, status int) map[string]any {
		out := e.admin(method, path, body, status)
		responses = append(responses, mustJSONString(t, out))
		return out
	}
	id := raw("POST", "/apps", body, 201)["app"].(map[string]any)["id"].(string)
	raw("GET", "/apps/"+id, "", 200)
	raw("GET", "/apps", "", 200)
	raw("PATCH", "/apps/"+id, `{"apn":{"topic":"io.x"}}`, 200)
	raw("POST", "/apps/"+id+"/secret", `{}`, 200)
	for _, resp := range responses {
		for _, secret := range []string{privB64, "PRIVATE KEY", "vapid_private_key", "key_p8", "private_key"} {
			if strings.Contains(resp, secret) {
				t.Fatalf("response leaks %q: %s", secret, resp)
			}
		}
	}
	sa, err := e.store.App(context.Background(), id)
	if err != nil || sa.App.WebPush.VAPIDPrivateKey != privB64 || sa.App.APN.KeyP8 != key {
		t.Fatalf("store lost the write-only fields: %+v %v", sa.App.WebPush, err)
	}
	if r := e.reg.ByID(id); r.WebPush.VAPIDPrivateKey != privB64 || r.APN.KeyP8 != key {
		t.Fatal("registry lost the write-only fields")
	}
}

func TestAdminSecretRotation(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	app := e.create(`{"name":"r"}`)
	id, key, s0 := app["id"].(string), app["key"].(string), app["secret"].(string)
	channels := "/apps/" + id + "/channels"
	works := func(secret string) bool {
		t.Helper()
		status, out := e.signed("GET", channels, key, secret, "")
		if status != 200 && status != 401 {
			t.Fatalf("signed request: %d %v", status, out)
		}
		return status == 200
	}
	if !works(s0) {
		t.Fatal("initial secret refused")
	}
	out := e.admin("POST", "/apps/"+id+"/secret", `{"grace_s":3600}`, 200)
	s1 := out["secret"].(string)
	until := int64(out["previous_valid_until"].(float64))
	if len(s1) != 64 || s1 == s0 || len(out) != 2 || until != e.now.Add(time.Hour).Unix() {
		t.Fatalf("rotation answer %v", out)
	}
	if !works(s0) || !works(s1) {
		t.Fatal("during the grace both secrets must verify")
	}
	e.now = e.now.Add(time.Hour + time.Second)
	if works(s0) || !works(s1) {
		t.Fatal("after the grace only the new secret verifies")
	}
	e.now = e.now.Add(-time.Hour)

	// Signed with the current secret (no admin token); the default grace
	// is a day, and rotating again ends s0's grace at once.
	status, out := e.signed("POST", "/apps/"+id+"/secret", key, s1, "")
	if status != 200 {
		t.Fatalf("signed rotation: %d %v", status, out)
	}
	s2 := out["secret"].(string)
	if int64(out["previous_valid_until"].(float64)) != e.now.Add(24*time.Hour).Unix() {
		t.Fatalf("default grace: %v", out)
	}
	if works(s0) || !works(s1) || !works(s2) {
		t.Fatal("second rotation: s0 must stop at once, s1 and s2 verify")
	}
	// The previous secret cannot mint the next one.
	if status, out := e.signed("POST", "/apps/"+id+"/secret", key, s1, `{"grace_s":0}`); status != 401 {
		t.Fatalf("rotation signed with the previous secret: %d %v", status, out)
	}
	sa, _ := e.store.App(context.Background(), id)
	if sa.App.Secret != s2 || sa.PreviousSecret != s1 {
		t.Fatalf("stored rotation state: %q %q", sa.App.Secret, sa.PreviousSecret)
	}
	e.admin("POST", "/apps/"+id+"/secret", `{"grace_s":0}`, 200)
	if works(s2) {
		t.Fatal("grace 0 must end the previous secret at once")
	}

	e.adminErr("POST", "/apps/"+id+"/secret", `{"grace_s":-1}`, 400, "grace_s")
	e.adminErr("POST", "/apps/"+id+"/secret", `{"grace_s":2592001}`, 400, "grace_s")
	e.adminErr("POST", "/apps/"+id+"/secret", `{"grace":1}`, 400, "Unknown field")
	e.adminErr("POST", "/apps/"+id+"/secret", `{"grace_s":"1"}`, 400, "wrong type")
	e.adminErr("POST", "/apps/900001/secret", `{}`, 403, "read-only")
	e.adminErr("POST", "/apps/nope/secret", `{}`, 404, "Unknown app")
	if status, out := e.signed("POST", "/apps/nope/secret", key, s1, ""); status != 404 {
		t.Fatalf("unknown app, signed: %d %v", status, out)
	}
	if status, _, _ := e.do("POST", "/apps/"+id+"/secret", "", ""); status != 401 {
		t.Fatalf("unauthenticated rotation: %d", status)
	}
}

func TestAdminVAPID(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	app := e.create(`{"name":"v","allowed_origins":["https://site.example"]}`)
	id := app["id"].(string)
	pub0 := app["web_push"].(map[string]any)["vapid_public_key"].(string)
	public := func() (int, string, http.Header) {
		req, _ := http.NewRequest("GET", e.url+"/apps/"+id+"/vapid_key", nil)
		req.Header.Set("Origin", "https://site.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp.Header
	}
	status, body, h := public()
	if status != 200 || body != `{"vapid_public_key":"`+pub0+`"}` || h.Get("Access-Control-Allow-Origin") != "https://site.example" {
		t.Fatalf("public key: %d %s %v", status, body, h)
	}

	out := e.admin("POST", "/apps/"+id+"/web_push/vapid", "", 200)
	pub1, _ := out["vapid_public_key"].(string)
	if pub1 == "" || pub1 == pub0 || len(out) != 1 {
		t.Fatalf("regenerated %v", out)
	}
	if _, body, _ := public(); !strings.Contains(body, pub1) {
		t.Fatalf("public route shows the old key: %s", body)
	}
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	want := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
	out = e.admin("POST", "/apps/"+id+"/web_push/vapid", `{"private_key":"`+base64.RawURLEncoding.EncodeToString(priv.Bytes())+`"}`, 200)
	if out["vapid_public_key"] != want {
		t.Fatalf("given key: %v, want %s", out, want)
	}
	if sa, _ := e.store.App(context.Background(), id); sa.App.WebPush.VAPIDPublicKey != want {
		t.Fatal("not stored")
	}
	e.adminErr("POST", "/apps/"+id+"/web_push/vapid", `{"private_key":"AAAA"}`, 400, "private_key")
	e.adminErr("POST", "/apps/"+id+"/web_push/vapid", `{"private_key":"`+base64.RawURLEncoding.EncodeToString(make([]byte, 32))+`"}`, 400, "private_key")
	e.adminErr("POST", "/apps/"+id+"/web_push/vapid", `{"key":"x"}`, 400, "Unknown field")
	e.adminErr("POST", "/apps/900001/web_push/vapid", ``, 403, "read-only")
	e.adminErr("POST", "/apps/nope/web_push/vapid", ``, 404, "Unknown app")

	if status, out, _ := e.do("GET", "/apps/nope/vapid_key", "", ""); status != 404 {
		t.Fatalf("unknown app: %d %v", status, out)
	}
	e.admin("PATCH", "/apps/"+id, `{"enabled":false}`, 200)
	if status, _, _ := public(); status != 403 {
		t.Fatalf("disabled app: %d", status)
	}
}

func TestAdminDelete(t *testing.T) {
	e := newAdminEnv(t, adminToken, nil)
	app := e.create(`{"name":"d"}`)
	id, key := app["id"].(string), app["key"].(string)
	out := e.admin("DELETE", "/apps/"+id, "", 200)
	if len(out) != 0 {
		t.Fatalf("delete answer %v", out)
	}
	if e.reg.ByID(id) != nil || e.reg.ByKey(key) != nil {
		t.Fatal("still registered")
	}
	if _, err := e.store.App(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("still stored: %v", err)
	}
	e.adminErr("GET", "/apps/"+id, "", 404, "Unknown app")
	e.adminErr("DELETE", "/apps/"+id, "", 404, "Unknown app")
	e.adminErr("DELETE", "/apps/900001", "", 403, "read-only")
	if e.reg.ByID("900001") == nil {
		t.Fatal("config app removed")
	}
	// The name is free again.
	e.create(`{"name":"d"}`)
}

// failingStore answers every app call with ErrUnavailable.
type failingStore struct{ store.Store }

func (failingStore) App(context.Context, string) (store.StoredApp, error) {
	return store.StoredApp{}, store.ErrUnavailable
}
func (failingStore) CreateApp(context.Context, store.StoredApp) error { return store.ErrUnavailable }
func (failingStore) ListApps(context.Context, string, int) ([]store.StoredApp, error) {
	return nil, store.ErrUnavailable
}

func TestAdminStoreUnavailable(t *testing.T) {
	e := newAdminEnv(t, adminToken, func(s store.Store) store.Store { return failingStore{s} })
	e.adminErr("POST", "/apps", `{"name":"x"}`, 503, "unavailable")
	e.adminErr("GET", "/apps", "", 503, "unavailable")
	e.adminErr("GET", "/apps/900001", "", 503, "unavailable")
	e.adminErr("PATCH", "/apps/900001", `{}`, 503, "unavailable")
	if len(e.reg.All()) != 1 {
		t.Fatal("a failed create was registered")
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	// Re-decode so key order does not matter.
	var generic any
	json.Unmarshal(buf.Bytes(), &generic)
	b, _ := json.Marshal(generic)
	return string(b)
}
