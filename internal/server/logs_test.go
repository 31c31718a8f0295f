package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// hexSecret matches what every secret and signature here is: an admin
// token (32 random bytes) or an HMAC-SHA256, both 64 hex digits.
var hexSecret = regexp.MustCompile(`[0-9a-f]{64}`)

// With LOG_FORMAT=json every line is one JSON object; each connection
// logs one open and one close line with its close code and reason, a
// refused connection one line with its code; and no secret, admin token
// or signature reaches the log: the generated ones go to a 0600 file.
func TestJSONLogsOneLinePerConnectionAndNoSecrets(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": filepath.Join(dir, "pushi.db"), "LOG_FORMAT": "json"}
	cfg := mustConfig(t, vars)
	logs := &logBuffer{}
	s, _ := launch(t, cfg, NewLogger(cfg, logs))

	credPath := filepath.Join(dir, credentialsFile)
	fi, err := os.Stat(credPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated credentials file: %v, mode %v; want 0600", err, fi)
	}
	var cred map[string]string
	raw, _ := os.ReadFile(credPath)
	if err := json.Unmarshal(raw, &cred); err != nil || cred["secret"] == "" || len(cred["admin_token"]) != 64 {
		t.Fatalf("credentials file %s: %v", raw, err)
	}
	app := testApp{cred["app_id"], cred["key"], cred["secret"]}

	// Signed traffic of every kind: channel auth, an HTTP API call, a
	// wrong signature, the admin token.
	c := s.connect(t, app.key)
	c.subscribePrivate(app, "private-logs")
	s.publish(t, app, "private-logs", "e", `"x"`)
	c.expectEvent("e")
	if status, _ := s.signedRequest(t, "POST", "/apps/"+app.id+"/events", app.key, "wrong-secret", nil, []byte(`{"name":"e","channel":"a","data":"1"}`)); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", status)
	}
	s.adminCallWith(t, cred["admin_token"], "GET", "/apps", "", http.StatusOK)
	refused := s.dial(t, "/app/no-such-key?protocol=7", nil)
	refused.expectError(4001)
	c.conn.Close() // no close frame: logged as 1006
	closer := s.connect(t, app.key)
	closer.sendClose(1000)
	// Teardown is asynchronous: wait for both before Shutdown closes what
	// is left with 4200.
	testkit.Eventually(t, 5*time.Second, "both connections to be torn down", func() bool { return s.Node.Connections() == 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, 0); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	for _, secret := range []string{app.secret, cred["admin_token"]} {
		if strings.Contains(out, secret) {
			t.Fatalf("a secret is in the log:\n%s", out)
		}
	}
	if m := hexSecret.FindString(out); m != "" {
		t.Fatalf("a 64-hex-digit value (signature or token) %s is in the log:\n%s", m, out)
	}
	opened, closed := map[string]bool{}, map[string]float64{}
	var refusedCode float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not one JSON object per line: %q: %v", line, err)
		}
		id, _ := rec["socket_id"].(string)
		switch rec["msg"] {
		case "connection open":
			if opened[id] || rec["app"] != app.id || rec["level"] != "INFO" {
				t.Fatalf("open line: %v", rec)
			}
			opened[id] = true
		case "connection closed":
			if _, dup := closed[id]; dup || rec["reason"] == "" || rec["duration"] == nil {
				t.Fatalf("close line: %v", rec)
			}
			closed[id], _ = rec["code"].(float64)
		case "connection refused":
			refusedCode, _ = rec["code"].(float64)
		}
	}
	if !opened[c.socketID] || !opened[closer.socketID] || len(opened) != 2 {
		t.Fatalf("open lines for %v, want %s and %s", opened, c.socketID, closer.socketID)
	}
	if closed[c.socketID] != 1006 || closed[closer.socketID] != 1000 || len(closed) != 2 {
		t.Fatalf("close codes %v, want %s: 1006 and %s: 1000", closed, c.socketID, closer.socketID)
	}
	if refusedCode != 4001 {
		t.Fatalf("refused connection logged with code %v, want 4001:\n%s", refusedCode, out)
	}
}
