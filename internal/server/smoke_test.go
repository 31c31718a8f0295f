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
