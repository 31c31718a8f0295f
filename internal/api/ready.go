package api

import (
	"context"
	"net/http"
	"time"
)

// ready is /health/ready: 503 while the node drains or the store cannot be
// reached, so a load balancer stops sending work the node would refuse.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.node.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining", "code": http.StatusServiceUnavailable})
		return
	}
	if st := a.node.Store(); st != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "store unavailable", "error": err.Error(), "code": http.StatusServiceUnavailable})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}
