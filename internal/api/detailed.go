package api

import (
	"context"
	"net/http"
	"runtime"
	"time"
)

// detailed is /health/detailed, behind the admin token: what an operator
// checks by hand or a soak test asserts on (connections, channels,
// messages, store latency, the Go runtime). ?gc=1 runs a collection first
// so heap figures compare across calls; it is admin-only for that reason.
func (a *API) detailed(w http.ResponseWriter, r *http.Request, q query, _ []byte) {
	s := a.node.Stats()
	status := "ok"
	if a.node.Draining() {
		status = "draining"
	}
	st := map[string]any{"backend": a.opts.StoreName, "ok": true}
	if store := a.node.Store(); store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		start := time.Now()
		err := store.Ping(ctx)
		cancel()
		st["ping_ms"] = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			st["ok"], st["error"], status = false, err.Error(), "degraded"
		}
	}
	if q.get("gc") == "1" {
		runtime.GC()
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	writeJSON(w, http.StatusOK, map[string]any{
		"status":   status,
		"version":  a.opts.Version,
		"uptime_s": time.Since(a.started).Seconds(),
		"connections": map[string]any{
			"current": s.Connections, "accepted": s.Accepted, "closed": s.Closed,
			"rate_limited": s.RateLimited, "closed_by_code": s.ClosedByCode,
		},
		"channels":      s.Channels,
		"subscriptions": s.Subscriptions,
		"messages": map[string]any{
			"received": s.MessagesIn, "sent": s.MessagesOut, "bytes_sent": s.BytesOut,
			"persisted": s.Persisted,
		},
		"slow_consumer_disconnects": s.SlowConsumers,
		"rate_limited_events":       s.RateLimitedEvents,
		"store":                     st,
		"runtime": map[string]any{
			"goroutines": runtime.NumGoroutine(), "heap_alloc_bytes": mem.HeapAlloc,
			"heap_inuse_bytes": mem.HeapInuse, "sys_bytes": mem.Sys, "num_gc": mem.NumGC,
		},
	})
}
