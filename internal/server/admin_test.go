package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pushi-io/pushi/internal/protocol"
)

const testAdminToken = "server-admin-token-0123456789"

// adminCall sends an admin API request with testAdminToken, wants status.
func (s *testServer) adminCall(t testing.TB, method, path, body string, status int) map[string]any {
	t.Helper()
	return s.adminCallWith(t, testAdminToken, method, path, body, status)
}

// createApp creates an app through the admin API.
func (s *testServer) createApp(t testing.TB, name string) testApp {
	t.Helper()
	app := s.adminCall(t, "POST", "/apps", `{"name":"`+name+`"}`, http.StatusCreated)["app"].(map[string]any)
	return testApp{app["id"].(string), app["key"].(string), app["secret"].(string)}
}

// An app created through the API serves at once; deleting it closes its
// sockets with 4001, disabling with 4003.
func TestAdminAppLifecycle(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ADMIN_TOKEN": testAdminToken})
	a := s.createApp(t, "live")
	c := s.connect(t, a.key)
	c.subscribe("news", nil)
	s.publish(t, a, "news", "hello", "1")
	c.expectRaw(`{"event":"hello","channel":"news","data":"1"}`)
	c.subscribePrivate(a, "private-x")

	other := s.connect(t, appBasic.key) // another app's socket stays open
	s.adminCall(t, "DELETE", "/apps/"+a.id, "", http.StatusOK)
	c.expectError(protocol.CodeUnknownApp)
	c.expectClose(protocol.CodeUnknownApp)
	s.dial(t, "/app/"+a.key+"?protocol=7", nil).expectClose(protocol.CodeUnknownApp)
	status, _ := s.trigger(t, a.key, a.secret, a.id, map[string]any{"name": "e", "channel": "news", "data": "x"})
	if status != http.StatusNotFound {
		t.Fatalf("trigger on a deleted app: %d", status)
	}
	other.pingPong()

	b := s.createApp(t, "to-disable")
	c = s.connect(t, b.key)
	s.adminCall(t, "PATCH", "/apps/"+b.id, `{"enabled":false}`, http.StatusOK)
	c.expectError(protocol.CodeAppDisabled)
	c.expectClose(protocol.CodeAppDisabled)
	s.dial(t, "/app/"+b.key+"?protocol=7", nil).expectClose(protocol.CodeAppDisabled)
	if status, _ := s.trigger(t, b.key, b.secret, b.id, map[string]any{"name": "e", "channel": "news", "data": "x"}); status != http.StatusForbidden {
		t.Fatalf("trigger on a disabled app: %d", status)
	}
	s.adminCall(t, "PATCH", "/apps/"+b.id, `{"enabled":true}`, http.StatusOK)
	s.connect(t, b.key).pingPong()
	other.pingPong()

	// Apps of the config file are served and read-only.
	s.adminCall(t, "DELETE", "/apps/"+appBasic.id, "", http.StatusForbidden)
}

// logBuffer collects log records for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// runServer starts a server on vars and returns it, its log and a stop
// function (also run at cleanup).
func runServer(t *testing.T, vars map[string]string) (*testServer, *logBuffer, func()) {
	t.Helper()
	logs := &logBuffer{}
	s, stop := launch(t, mustConfig(t, vars), slog.New(slog.NewTextHandler(logs, nil)))
	return s, logs, stop
}

// A restart on the same database keeps the generated default app, the
// generated admin token and the apps created through the API.
func TestRestartKeepsApps(t *testing.T) {
	vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": t.TempDir() + "/pushi.db"}
	s1, logs1, stop1 := runServer(t, vars)
	all := s1.Apps.All()
	if len(all) != 1 {
		t.Fatalf("first start: %d apps", len(all))
	}
	def := *all[0]
	token, ok := s1.adminTokenFromLog(logs1.String())
	if !ok || !strings.Contains(logs1.String(), def.Secret) || !strings.Contains(logs1.String(), "level=WARN") {
		t.Fatalf("first start must log the generated token and default app once, at Warn:\n%s", logs1)
	}
	created := s1.adminCallWith(t, token, "POST", "/apps", `{"name":"kept"}`, http.StatusCreated)["app"].(map[string]any)
	kept := testApp{created["id"].(string), created["key"].(string), created["secret"].(string)}
	stop1()

	s2, logs2, _ := runServer(t, vars)
	if d := s2.Apps.ByID(def.ID); d == nil || d.Key != def.Key || d.Secret != def.Secret || d.WebPush.VAPIDPublicKey != def.WebPush.VAPIDPublicKey {
		t.Fatalf("default app not kept: %+v", d)
	}
	if len(s2.Apps.All()) != 2 {
		t.Fatalf("second start: %d apps", len(s2.Apps.All()))
	}
	if strings.Contains(logs2.String(), token) || strings.Contains(logs2.String(), def.Secret) {
		t.Fatalf("second start printed credentials again:\n%s", logs2)
	}
	s2.adminCallWith(t, token, "GET", "/apps/"+kept.id, "", http.StatusOK)
	c := s2.connect(t, kept.key)
	c.subscribe("after-restart", nil)
	s2.publish(t, kept, "after-restart", "e", "1")
	c.expectRaw(`{"event":"e","channel":"after-restart","data":"1"}`)
}

// adminTokenFromLog finds admin_token=… in a text log.
func (s *testServer) adminTokenFromLog(log string) (string, bool) {
	_, rest, ok := strings.Cut(log, "admin_token=")
	if !ok {
		return "", false
	}
	token := strings.Fields(rest)[0]
	return token, len(token) == 64
}

func (s *testServer) adminCallWith(t testing.TB, token, method, path, body string, status int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, s.apiURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, status)
	}
	return out
}

// Config apps are stored read-only and keep their VAPID pair across
// restarts; one dropped from the config stays stored, disabled and
// manageable through the API, and no default app is generated for it.
func TestConfigAppsAreStored(t *testing.T) {
	db := t.TempDir() + "/pushi.db"
	vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": db, "PUSHI_ADMIN_TOKEN": testAdminToken,
		"PUSHI_APP_ID": "4242", "PUSHI_APP_KEY": "env-key", "PUSHI_APP_SECRET": "env-secret"}
	s1, _, stop1 := runServer(t, vars)
	if len(s1.Apps.All()) != 1 {
		t.Fatalf("a configured start generated apps: %d", len(s1.Apps.All()))
	}
	app := s1.adminCall(t, "GET", "/apps/4242", "", http.StatusOK)["app"].(map[string]any)
	pub := app["web_push"].(map[string]any)["vapid_public_key"].(string)
	if app["name"] != "default" || app["secret"] != "env-secret" || len(pub) != 87 {
		t.Fatalf("stored config app %v", app)
	}
	s1.adminCall(t, "PATCH", "/apps/4242", `{"client_events":true}`, http.StatusForbidden)
	stop1()

	s2, _, stop2 := runServer(t, vars)
	if got := s2.Apps.ByID("4242").WebPush.VAPIDPublicKey; got != pub {
		t.Fatalf("VAPID key changed across restarts: %s → %s", pub, got)
	}
	stop2()

	delete(vars, "PUSHI_APP_ID")
	delete(vars, "PUSHI_APP_KEY")
	delete(vars, "PUSHI_APP_SECRET")
	s3, logs3, _ := runServer(t, vars)
	if all := s3.Apps.All(); len(all) != 1 || all[0].ID != "4242" || all[0].Enabled {
		t.Fatalf("dropped config app: %+v", all)
	}
	if !strings.Contains(logs3.String(), "no longer in the config") {
		t.Fatalf("dropping a config app must be logged:\n%s", logs3)
	}
	s3.dial(t, "/app/env-key?protocol=7", nil).expectClose(protocol.CodeAppDisabled)
	s3.adminCall(t, "PATCH", "/apps/4242", `{"enabled":true}`, http.StatusOK)
	s3.connect(t, "env-key").pingPong()
}

// Setting PUSHI_APP_* after a first start keeps the generated "default"
// app; the env app, whose name is fixed, takes a distinct one.
func TestEnvAppAfterGeneratedDefault(t *testing.T) {
	vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": t.TempDir() + "/pushi.db"}
	s1, _, stop1 := runServer(t, vars)
	generated := s1.Apps.All()[0].ID
	stop1()
	vars["PUSHI_APP_ID"], vars["PUSHI_APP_KEY"], vars["PUSHI_APP_SECRET"] = "4242", "env-key", "env-secret"
	s2, _, _ := runServer(t, vars)
	if g, e := s2.Apps.ByID(generated), s2.Apps.ByID("4242"); g == nil || e == nil || g.Name != "default" || e.Name != "default-4242" {
		t.Fatalf("apps after adding PUSHI_APP_*: %+v %+v", g, e)
	}
}

// A socket connected before a secret rotation authorises with the new
// secret and, during the grace period, the old one (docs/features.md §2.3).
func TestRotationReachesConnectedSockets(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ADMIN_TOKEN": testAdminToken})
	old := s.createApp(t, "rotating")
	c := s.connect(t, old.key)
	res := s.adminCall(t, "POST", "/apps/"+old.id+"/secret", `{"grace_s":60}`, http.StatusOK)
	rotated := old
	rotated.secret = res["secret"].(string)
	if rotated.secret == old.secret {
		t.Fatal("rotation kept the secret")
	}
	c.subscribePrivate(rotated, "private-new")
	c.subscribePrivate(old, "private-old")
	s.adminCall(t, "POST", "/apps/"+old.id+"/secret", `{"grace_s":0}`, http.StatusOK)
	c.send("pusher:subscribe", map[string]any{"channel": "private-stale", "auth": channelAuth(old.key, old.secret, c.socketID, "private-stale", "")})
	c.expectSubError("private-stale", "AuthError", 401)
}
