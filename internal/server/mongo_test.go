package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

// With MONGO_URL set the server keeps its apps, follows and history in
// MongoDB: a persisted trigger is delivered with its seq and read back, a
// follower's inbox has it, and a restart on the same database keeps all.
func TestServerOnMongo(t *testing.T) {
	env := map[string]string{"MONGO_URL": ferret.Start(t), "MONGO_DB": "pushi_e2e", "PUSHI_ADMIN_TOKEN": testAdminToken}
	s := startServer(t, env)
	if status, body := s.api(t, appBasic, "POST", "/subscribe", nil, `{"user_id":"ann","event":"news"}`); status != http.StatusOK {
		t.Fatalf("follow: %d %v", status, body)
	}
	c := s.connect(t, appBasic.key)
	c.subscribe("news", nil)
	s.persistN(t, appBasic, "news", 3)
	for i := 0; i < 3; i++ {
		if seq := c.expectStored(fmt.Sprintf(`{"event":"e","channel":"news","data":"%d"}`, i)); seq != int64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	created := s.createApp(t, "on-mongo")
	s.Shutdown(context.Background(), 0)

	s2 := startServer(t, env)
	status, body := s2.api(t, appBasic, "GET", "/channels/news/events", url1("after", "0"), "")
	if events, _ := body["events"].([]any); status != http.StatusOK || len(events) != 3 {
		t.Fatalf("history after restart: %d %v", status, body)
	}
	status, body = s2.api(t, appBasic, "GET", "/users/ann/events", nil, "")
	if events, _ := body["events"].([]any); status != http.StatusOK || len(events) != 3 {
		t.Fatalf("inbox after restart: %d %v", status, body)
	}
	s2.connect(t, created.key).pingPong() // the API-created app is still served
}
