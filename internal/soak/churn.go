package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
)

// churnStats counts the churners' connect-subscribe-leave cycles.
type churnStats struct {
	start    time.Time // the load's, so an error says when it happened
	cycles   atomic.Int64
	clean    atomic.Int64 // closed with a close frame
	dropped  atomic.Int64 // TCP socket closed without one
	refused  atomic.Int64 // upgrade refused with 503 (during the flood)
	delayed  atomic.Int64 // TCP connect timed out while the flood ran
	flood    floodWindow
	errors   atomic.Int64
	errMu    sync.Mutex
	firstErr string
}

func (s *churnStats) fail(msg string) {
	s.errors.Add(1)
	s.errMu.Lock()
	if s.firstErr == "" {
		s.firstErr = msg
	}
	s.errMu.Unlock()
}

// floodWindow is when the flood ran (unix nanos; zero before it starts).
type floodWindow struct{ start, end atomic.Int64 }

// overlaps reports whether [from, to] meets the flood, counting the second
// after it (connects queued behind it).
func (w *floodWindow) overlaps(from, to time.Time) bool {
	start := w.start.Load()
	if start == 0 || to.UnixNano() < start {
		return false
	}
	end := w.end.Load()
	return end == 0 || from.UnixNano() <= end+int64(time.Second)
}

// runChurn runs n churners until ctx ends: each dials, subscribes to a
// random soak channel, holds the connection 100–500 ms and leaves, half of
// the time cleanly and half by dropping the socket.
func runChurn(ctx context.Context, d *bench.Dialer, n, channels int, st *churnStats) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !ended(ctx) {
				churnOnce(ctx, d, channels, st)
			}
		}()
	}
	wg.Wait()
}

func churnOnce(ctx context.Context, d *bench.Dialer, channels int, st *churnStats) {
	dialStart := time.Now()
	c, err := d.Dial(ctx)
	if err != nil {
		if ended(ctx) {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && st.flood.overlaps(dialStart, time.Now()) {
			// Measured once in a CI run: one connect in ~5 000 cycles got
			// no SYN-ACK within 10 s while 64 flooders opened and closed
			// 3 000 loopback connections. That is the kernel's accept path
			// under the flood, not pushi's answer, so it is reported
			// rather than failed; outside the flood it is an error.
			st.delayed.Add(1)
			return
		}
		if statusCode(err) == 503 {
			// Expected while the flood drains the node's connection budget.
			st.refused.Add(1)
			sleepCtx(ctx, time.Duration(200+rand.IntN(300))*time.Millisecond)
			return
		}
		st.fail(fmt.Sprintf("dial at %.1fs of the load, failed after %.1fs: %v", dialStart.Sub(st.start).Seconds(), time.Since(dialStart).Seconds(), err))
		sleepCtx(ctx, 100*time.Millisecond)
		return
	}
	// Next blocks without a deadline; a stuck server is caught by this timer.
	stuck := time.AfterFunc(5*time.Second, func() { _ = c.Abort() })
	ok := churnSubscribe(c, chanName(rand.IntN(channels)))
	stuck.Stop()
	if !ok {
		_ = c.Abort()
		st.fail(fmt.Sprintf("dial at %.1fs of the load: no subscription_succeeded within 5 s", dialStart.Sub(st.start).Seconds()))
		return
	}
	sleepCtx(ctx, time.Duration(100+rand.IntN(400))*time.Millisecond)
	if rand.IntN(2) == 0 {
		_ = c.Close()
		st.clean.Add(1)
	} else {
		_ = c.Abort()
		st.dropped.Add(1)
	}
	st.cycles.Add(1)
}

// churnSubscribe subscribes and reads until subscription_succeeded.
func churnSubscribe(c *bench.Conn, channel string) bool {
	if err := c.Subscribe(channel, "", ""); err != nil {
		return false
	}
	for {
		msg, err := c.Next()
		if err != nil {
			return false
		}
		if bytes.Equal(bench.EventName(msg), evSucceeded) {
			return true
		}
	}
}

// ended reports whether the load is over, its deadline passed counting
// before the context's own timer has fired: on a loaded machine that timer
// ran 0.2 s late, and a dial started meanwhile failed at once with "i/o
// timeout", which was taken for a churn error.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
