package server

import (
	"net/http"
	"testing"
)

// /health/ready answers 200 while the node serves, 503 once the store is
// unreachable or the node drains; /health/live stays 200 (a restart would
// not help either case).
func TestReadiness(t *testing.T) {
	s := startServer(t, nil)
	if status, body := s.rawRequest(t, "GET", "/health/ready", nil); status != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("ready: %d %v", status, body)
	}
	s.Store.Close() // what an unreachable store looks like to Ping
	if status, body := s.rawRequest(t, "GET", "/health/ready", nil); status != http.StatusServiceUnavailable || body["status"] != "store unavailable" {
		t.Fatalf("store down: %d %v", status, body)
	}
	if status, _ := s.rawRequest(t, "GET", "/health/live", nil); status != http.StatusOK {
		t.Fatalf("live: %d", status)
	}
	s.Node.SetDraining(true)
	if status, body := s.rawRequest(t, "GET", "/health/ready", nil); status != http.StatusServiceUnavailable || body["status"] != "draining" {
		t.Fatalf("draining: %d %v", status, body)
	}
}
