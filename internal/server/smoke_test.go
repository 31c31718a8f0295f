package server

import (
	"testing"
)

func TestPublicChannelRoundTrip(t *testing.T) {
	s := startServer(t, nil)
	c := s.connect(t, "key-basic")
	if !protocolSocketID(c.socketID) {
		t.Fatalf("socket id %q", c.socketID)
	}
	c.subscribe("news", nil)
	status, body := s.trigger(t, "key-basic", "secret-basic", "100001", map[string]any{"name": "update", "channel": "news", "data": `{"a":1}`})
	if status != 200 || len(body) != 0 {
		t.Fatalf("trigger: %d %v", status, body)
	}
	c.expectRaw(`{"event":"update","channel":"news","data":"{\"a\":1}"}`)
}

// With no app configured the server generates one, so a bare start works.
func TestGeneratesAppWhenNoneConfigured(t *testing.T) {
	srv, err := New(mustConfig(t, map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": t.TempDir() + "/pushi.db"}), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Store.Close()
	all := srv.Apps.All()
	if len(all) != 1 || len(all[0].Secret) != 64 || !all[0].Enabled {
		t.Fatalf("generated apps: %+v", all)
	}
}
