package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// upgradeRequest sends a WebSocket upgrade as a plain HTTP request, so a
// refusal before the upgrade is seen with its status, headers and body.
func (s *testServer) upgradeRequest(t testing.TB, key string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(s.wsURL, "ws")+"/app/"+key+"?protocol=7", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode != http.StatusSwitchingProtocols {
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%d with a non-JSON body %q", resp.StatusCode, raw)
		}
	}
	return resp, body
}

// The node's connection-rate limit refuses before the upgrade with HTTP
// 503, a JSON body and Retry-After, and counts the refusals; the
// connections it let in are untouched.
func TestConnectionRateLimitBeforeUpgrade(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_MAX_CONNECTION_RATE": "5"})
	var kept []*wsClient
	for range 5 {
		kept = append(kept, s.connect(t, appBasic.key))
	}
	resp, body := s.upgradeRequest(t, appBasic.key)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || body["code"] != float64(503) || body["error"] == "" {
		t.Fatalf("6th attempt in the same second: %d Retry-After=%q %v", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if got := s.Node.Stats().RateLimited; got != 1 {
		t.Fatalf("rate-limited count %d, want 1", got)
	}
	kept[0].pingPong()
	// The bucket refills at 5/s: a connection gets in again within a second.
	time.Sleep(250 * time.Millisecond)
	s.connect(t, appBasic.key)
}

// An app's max_connection_rate throttles that app only.
func TestAppConnectionRateLimit(t *testing.T) {
	s := startServerWithApps(t, `{"apps":[{"id":"600001","key":"key-slow","secret":"s1","limits":{"max_connection_rate":2}},
		{"id":"600002","key":"key-free","secret":"s2"}]}`, map[string]string{"PUSHI_MAX_CONNECTION_RATE": "0"})
	s.connect(t, "key-slow")
	s.connect(t, "key-slow")
	if resp, body := s.upgradeRequest(t, "key-slow"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("3rd key-slow attempt: %d %v", resp.StatusCode, body)
	}
	for range 5 {
		s.connect(t, "key-free")
	}
}

// /health/detailed needs the admin token and reports connections,
// channels, messages, the store's ping and the runtime.
func TestHealthDetailed(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_ADMIN_TOKEN": testAdminToken})
	if status, body := s.rawRequest(t, "GET", "/health/detailed", nil); status != http.StatusUnauthorized || body["error"] == "" {
		t.Fatalf("without the token: %d %v", status, body)
	}
	c := s.connect(t, appBasic.key)
	c.subscribe("detailed", nil)
	s.publish(t, appBasic, "detailed", "e", "1")
	c.expectEvent("e")
	d := s.adminCallWith(t, testAdminToken, "GET", "/health/detailed?gc=1", "", http.StatusOK)
	conns := d["connections"].(map[string]any)
	msgs := d["messages"].(map[string]any)
	st := d["store"].(map[string]any)
	rt := d["runtime"].(map[string]any)
	wantBackend := "sqlite"
	if mongoMode {
		wantBackend = "mongodb"
	}
	switch {
	case d["status"] != "ok", conns["current"] != float64(1), conns["accepted"] != float64(1):
		t.Fatalf("status/connections: %v", d)
	case d["channels"] != float64(1), d["subscriptions"] != float64(1):
		t.Fatalf("channels/subscriptions: %v", d)
	case msgs["received"].(float64) < 1, msgs["sent"].(float64) < 3: // established, succeeded, e
		t.Fatalf("messages: %v", msgs)
	case st["backend"] != wantBackend, st["ok"] != true, st["ping_ms"] == nil:
		t.Fatalf("store: %v", st)
	case rt["goroutines"].(float64) < 1, rt["heap_alloc_bytes"].(float64) < 1:
		t.Fatalf("runtime: %v", rt)
	}
	s.Store.Close()
	if d := s.adminCallWith(t, testAdminToken, "GET", "/health/detailed", "", http.StatusOK); d["status"] != "degraded" || d["store"].(map[string]any)["ok"] != false {
		t.Fatalf("store closed: %v", d)
	}
}

// During the lame-duck time the listeners stay open: readiness answers
// 503, the API still serves, a new WebSocket client is told 4200 and a
// connected one keeps its connection until the drain closes it with 4200.
func TestLameDuckKeepsListenersOpenWhileNotReady(t *testing.T) {
	const lameDuck = 2 * time.Second
	s := startServer(t, map[string]string{"PUSHI_LAME_DUCK": "2"})
	c := s.connect(t, appBasic.key)
	c.subscribe("lame", nil)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx, 0)
	}()
	time.Sleep(100 * time.Millisecond)
	if status, body := s.rawRequest(t, "GET", "/health/ready", nil); status != http.StatusServiceUnavailable || body["status"] != "draining" {
		t.Fatalf("ready in the lame duck: %d %v", status, body)
	}
	s.publish(t, appBasic, "lame", "e", "still served")
	c.expectEvent("e")
	late := s.dial(t, "/app/"+appBasic.key+"?protocol=7", nil)
	late.expectError(4200)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < lameDuck {
		t.Fatalf("Shutdown returned after %v, before the lame duck of %v", waited, lameDuck)
	}
	if res := readUntilClose(c, 5*time.Second); res.code != 4200 || !res.sawError {
		t.Fatalf("connected client after the lame duck: %+v", res)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.apiURL, "http://"), time.Second); err == nil {
		t.Fatal("the API listener still accepts after Shutdown")
	}
}
