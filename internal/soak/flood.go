package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// floodStats counts the outcomes of the connection flood.
type floodStats struct {
	attempts atomic.Int64
	upgraded atomic.Int64
	refused  atomic.Int64 // HTTP 503 before the upgrade
	other    atomic.Int64 // any other status, reset or timeout
	bad503   atomic.Int64 // 503 without Retry-After or without a JSON body
	elapsed  time.Duration
	errMu    sync.Mutex
	firstErr string
}

// runFlood fires total WebSocket upgrade attempts from workers goroutines
// as fast as they go. Upgraded connections are closed at once: the flood
// is about the accept path, not about holding sockets.
func runFlood(ctx context.Context, wsURL string, total, workers int) *floodStats {
	st := &floodStats{}
	d := ws.Dialer{Timeout: 5 * time.Second, OnStatusError: func(status int, _ []byte, resp io.Reader) {
		if status == http.StatusServiceUnavailable && !good503(resp) {
			st.bad503.Add(1)
		}
	}}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) && ctx.Err() == nil {
				st.attempts.Add(1)
				nc, _, _, err := d.Dial(ctx, wsURL)
				switch {
				case err == nil:
					st.upgraded.Add(1)
					_ = nc.Close()
				case statusCode(err) == 503:
					st.refused.Add(1)
				default:
					st.other.Add(1)
					st.errMu.Lock()
					if st.firstErr == "" {
						st.firstErr = err.Error()
					}
					st.errMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	return st
}

// good503 checks the refusal a client sees: a Retry-After of whole seconds
// and a JSON body, so a client can back off instead of hammering.
func good503(resp io.Reader) bool {
	r, err := http.ReadResponse(bufio.NewReader(resp), nil)
	if err != nil {
		return false
	}
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil || !json.Valid(body) {
		return false
	}
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	return err == nil && n >= 1
}
