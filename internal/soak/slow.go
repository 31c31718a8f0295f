package soak

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// slowReader subscribes to soak-hot with a tiny socket receive buffer and
// then stops reading, so the server's queue for it overflows (4100).
type slowReader struct {
	c *rawConn
}

// openSlow opens n slow readers and subscribes each to the hot channel.
func openSlow(ctx context.Context, wsURL string, n int) ([]*slowReader, error) {
	out := make([]*slowReader, 0, n)
	for i := 0; i < n; i++ {
		c, err := rawDial(ctx, wsURL, 4096, 5*time.Second)
		if err != nil {
			closeSlow(out)
			return nil, fmt.Errorf("slow reader dial: %w", err)
		}
		out = append(out, &slowReader{c: c})
		deadline := time.Now().Add(5 * time.Second)
		if _, err := c.expectEvent("pusher:connection_established", deadline); err != nil {
			closeSlow(out)
			return nil, fmt.Errorf("slow reader: %w", err)
		}
		if err := c.write(maskedFrame(ws.OpText, true, 0, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+hotChannel+`"}}`), ws.NewMask())); err != nil {
			closeSlow(out)
			return nil, err
		}
		if _, err := c.expectEvent("pusher_internal:subscription_succeeded", deadline); err != nil {
			closeSlow(out)
			return nil, fmt.Errorf("slow reader subscribe: %w", err)
		}
	}
	return out, nil
}

func closeSlow(rs []*slowReader) {
	for _, r := range rs {
		_ = r.c.nc.Close()
	}
}

// slowOutcome is what one slow reader found when it finally read.
type slowOutcome struct {
	ticks int64 // in-order prefix of hot ticks received
	ok    bool
	why   string
}

// verify reads everything the server queued before it gave up on this
// reader. The criterion is TestSlowConsumerClosed4100's: a prefix of the
// hot events in order (seq 1, 2, …), then pusher:error 4100, then a close
// frame with 4100, and nothing else.
func (r *slowReader) verify(timeout time.Duration) slowOutcome {
	defer r.c.nc.Close()
	deadline := time.Now().Add(timeout)
	var o slowOutcome
	sawError := false
	for {
		p, err := r.c.nextPusher(deadline)
		if err != nil {
			code, isClose := asClose(err)
			switch {
			case !isClose:
				o.why = fmt.Sprintf("ended with %v after %d ticks (pusher:error seen %v), want close 4100", err, o.ticks, sawError)
			case code != 4100:
				o.why = fmt.Sprintf("close %d after %d ticks, want 4100", code, o.ticks)
			case !sawError:
				o.why = fmt.Sprintf("close 4100 after %d ticks without pusher:error 4100", o.ticks)
			default:
				o.ok = true
			}
			return o
		}
		if p.Event == "pusher:error" && !sawError {
			if !strings.HasPrefix(string(p.Data), `{"code":4100,`) {
				o.why = fmt.Sprintf("error frame %.100s", p.Data)
				return o
			}
			sawError = true
			continue
		}
		if sawError || p.Event != "tick" || p.Channel != hotChannel {
			o.why = fmt.Sprintf("unexpected frame %s on %s after %d ticks (error seen %v)", p.Event, p.Channel, o.ticks, sawError)
			return o
		}
		var t tick
		if err := jsonString(p, &t); err != nil || t.Seq != o.ticks+1 {
			o.why = fmt.Sprintf("tick out of order: seq %d after %d (%v)", t.Seq, o.ticks, err)
			return o
		}
		o.ticks++
	}
}

// verifyAll runs verify on every reader concurrently: they must start
// reading within the server's write timeout (10 s) of being dropped, or
// the server gives up writing and the close frame never leaves it.
func verifyAll(rs []*slowReader) []slowOutcome {
	out := make([]slowOutcome, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.verify(15 * time.Second)
		}()
	}
	wg.Wait()
	return out
}

// waitTripped polls /health/detailed until the server counted want more
// slow-consumer disconnects than at the baseline, or the timeout passes.
func waitTripped(ctx context.Context, d *detailedClient, base uint64, want int, timeout time.Duration) (uint64, time.Duration, bool) {
	start := time.Now()
	var got uint64
	for time.Since(start) < timeout {
		if det, err := d.get(ctx, false); err == nil {
			got = det.SlowConsumerDisconnects - base
			if got >= uint64(want) {
				return got, time.Since(start), true
			}
		}
		select {
		case <-ctx.Done():
			return got, time.Since(start), false
		case <-time.After(250 * time.Millisecond):
		}
	}
	return got, time.Since(start), false
}
