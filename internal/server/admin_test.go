package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
	srv, err := New(mustConfig(t, vars), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx, 0)
	}
	t.Cleanup(stop)
	return &testServer{Server: srv, apiURL: "http://" + srv.Addr("api").String(), wsURL: "ws://" + srv.Addr("ws").String()}, logs, stop
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
	token, _, _ := strings.Cut(rest, " ")
	token = strings.TrimSpace(token)
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
