package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// httpConns caps the connections using the HTTP API
// (PUSHI_MAX_HTTP_CONNECTIONS). A connection takes a slot at its first
// API request and holds it until it closes or is hijacked, so on a shared
// listener WebSocket clients never count: their upgrade is routed before
// the API, and a keep-alive connection that upgrades later gives its slot
// back. A connection that has sent no request yet holds none; the header
// timeout bounds it.
type httpConns struct {
	max     int // 0 = unlimited, still counted for the metric
	mu      sync.Mutex
	open    map[net.Conn]struct{}
	refused atomic.Uint64
}

type connKey struct{}

func newHTTPConns(max int) *httpConns {
	return &httpConns{max: max, open: map[net.Conn]struct{}{}}
}

// hook installs the accounting on srv.
func (h *httpConns) hook(srv *http.Server) {
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			h.mu.Lock()
			delete(h.open, c)
			h.mu.Unlock()
		}
	}
}

// admit reports whether r's connection may use the API, taking a slot on
// its first request.
func (h *httpConns) admit(r *http.Request) bool {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if c == nil {
		return true // not served by a hooked server
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.open[c]; ok {
		return true
	}
	if h.max > 0 && len(h.open) >= h.max {
		h.refused.Add(1)
		return false
	}
	h.open[c] = struct{}{}
	return true
}

// current is the number of connections holding a slot.
func (h *httpConns) current() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.open)
}
