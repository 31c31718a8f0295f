package soak

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
)

// healthyClient is a subscriber that reads everything promptly; it must
// receive every tick of its channel in order and never be disconnected.
type healthyClient struct {
	ch      int
	channel string
	conn    *bench.Conn
	track   seqTrack
	ready   chan struct{} // closed on subscription_succeeded
	done    chan struct{} // closed when the read loop ends
	closing atomic.Bool   // set before we close it ourselves
	errMu   sync.Mutex
	err     error // why the read loop ended, if not closed by us
	badMsg  atomic.Int64
}

var (
	evTick      = []byte("tick")
	evPing      = []byte("pusher:ping")
	evSucceeded = []byte("pusher_internal:subscription_succeeded")
	evError     = []byte("pusher:error")
)

// run is the client's read loop: one goroutine per connection, blocked in
// a read most of the time, so thousands of them cost little CPU.
func (h *healthyClient) run() {
	defer close(h.done)
	for {
		msg, err := h.conn.Next()
		if err != nil {
			if !h.closing.Load() {
				h.errMu.Lock()
				h.err = err
				h.errMu.Unlock()
			}
			return
		}
		switch ev := bench.EventName(msg); {
		case bytes.Equal(ev, evTick):
			channel, t, err := parseTick(msg)
			if err != nil || channel != h.channel || t.Ch != h.ch {
				h.badMsg.Add(1)
				continue
			}
			h.track.observe(t.Seq)
		case bytes.Equal(ev, evPing):
			_ = h.conn.Pong()
		case bytes.Equal(ev, evSucceeded):
			select {
			case <-h.ready:
			default:
				close(h.ready)
			}
		case bytes.Equal(ev, evError):
			h.badMsg.Add(1)
		}
	}
}

func (h *healthyClient) failure() error {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	return h.err
}

// openHealthy opens n clients at pace per second, each subscribed to
// soak-<i % channels>, and waits until every subscription succeeded.
// Dials refused with 503 (the node's connection-rate limit) are retried.
func openHealthy(ctx context.Context, d *bench.Dialer, n, channels, pace int) ([]*healthyClient, int, error) {
	clients := make([]*healthyClient, n)
	var wg sync.WaitGroup
	var refused atomic.Int64
	errs := make(chan error, n)
	tk := time.NewTicker(time.Second / time.Duration(pace))
	defer tk.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-tk.C:
		}
		h := &healthyClient{ch: i % channels, channel: chanName(i % channels), ready: make(chan struct{}), done: make(chan struct{})}
		clients[i] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialRetry503(ctx, d, &refused)
			if err != nil {
				errs <- fmt.Errorf("healthy dial: %w", err)
				close(h.done)
				return
			}
			h.conn = c
			go h.run()
			if err := c.Subscribe(h.channel, "", ""); err != nil {
				errs <- fmt.Errorf("healthy subscribe: %w", err)
				return
			}
			select {
			case <-h.ready:
			case <-h.done:
				errs <- fmt.Errorf("healthy client ended before subscription_succeeded: %v", h.failure())
			case <-time.After(15 * time.Second):
				errs <- fmt.Errorf("no subscription_succeeded on %s within 15 s", h.channel)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, h := range clients {
			h.close()
		}
		return nil, int(refused.Load()), err
	}
	return clients, int(refused.Load()), nil
}

// dialRetry503 dials, retrying for up to 10 s while the server refuses the
// upgrade with 503 (connection-rate limit).
func dialRetry503(ctx context.Context, d *bench.Dialer, refused *atomic.Int64) (*bench.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := d.Dial(ctx)
		if err == nil || statusCode(err) != 503 || time.Now().After(deadline) {
			return c, err
		}
		refused.Add(1)
		time.Sleep(200 * time.Millisecond)
	}
}

// close ends the client with a close frame and waits for its read loop.
func (h *healthyClient) close() {
	h.closing.Store(true)
	if h.conn != nil {
		_ = h.conn.Close()
	}
	<-h.done
}

func chanName(i int) string { return fmt.Sprintf("soak-%d", i) }

// healthyResult is the in-order check over all healthy clients.
type healthyResult struct {
	clients, channels    int
	expected, received   int64
	gaps, behind, short  int64 // short: clients whose last seq < published
	badMsgs              int64
	disconnected         int
	firstBad, firstDisco string
}

// checkHealthy compares what each client saw with what was published on
// its channel (published[ch] = last seq answered 200). Channels with a
// failed publish are skipped: whether that event went out is unknown.
func checkHealthy(clients []*healthyClient, published []int64, tainted []bool) healthyResult {
	r := healthyResult{clients: len(clients), channels: len(published)}
	for _, h := range clients {
		if err := h.failure(); err != nil {
			r.disconnected++
			if r.firstDisco == "" {
				r.firstDisco = err.Error()
			}
		}
		r.badMsgs += h.badMsg.Load()
		if tainted[h.ch] {
			continue
		}
		last, recv, gaps, behind, bad := h.track.snapshot()
		r.expected += published[h.ch]
		r.received += recv
		r.gaps += gaps
		r.behind += behind
		if last != published[h.ch] {
			r.short++
			if bad == "" {
				bad = fmt.Sprintf("%s: last seq %d, published %d", h.channel, last, published[h.ch])
			}
		}
		if r.firstBad == "" && bad != "" {
			r.firstBad = h.channel + ": " + bad
		}
	}
	return r
}
