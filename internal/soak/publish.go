package soak

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
)

// tickPublisher sends "tick" events through the signed HTTP API, round
// robin over the channels, one request in flight per channel: seq n+1 is
// sent only after seq n was answered 200, so a subscriber's order is the
// publish order.
type tickPublisher struct {
	pub       *bench.Publisher
	published []int64 // per channel: last seq answered 200 (read after stop)
	tainted   []bool  // per channel: a publish failed; no more are sent there
	sent      atomic.Int64
	failed    atomic.Int64
}

func newTickPublisher(pub *bench.Publisher, channels int) *tickPublisher {
	return &tickPublisher{pub: pub, published: make([]int64, channels), tainted: make([]bool, channels)}
}

// run publishes at rate per second in total until ctx ends. Each of the
// workers owns a fixed subset of the channels, which is what makes
// publishing sequential per channel without any locking.
func (p *tickPublisher) run(ctx context.Context, rate int) {
	channels := len(p.published)
	workers := min(16, channels)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for ch := w; ch < channels; ch += workers {
				mine = append(mine, ch)
			}
			// A ticker drops ticks when a request is slower than the
			// interval: the achieved rate is reported, not forced.
			tk := time.NewTicker(time.Duration(workers) * time.Second / time.Duration(rate))
			defer tk.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				ch := mine[i%len(mine)]
				if p.tainted[ch] {
					continue
				}
				seq := p.published[ch] + 1
				data, _ := json.Marshal(tick{Ch: ch, Seq: seq})
				if _, ok := p.pub.Publish("tick", chanName(ch), data); !ok {
					p.failed.Add(1)
					p.tainted[ch] = true
					continue
				}
				p.published[ch] = seq
				p.sent.Add(1)
			}
		}()
	}
	wg.Wait()
}

// hotPublisher floods soak-hot with ~4 KB ticks, sequentially, so the slow
// readers' server-side queues overflow within seconds.
type hotPublisher struct {
	pub    *bench.Publisher
	sent   atomic.Int64
	failed atomic.Int64
}

const hotChannel = "soak-hot"

func (p *hotPublisher) run(ctx context.Context, rate int) {
	pad := strings.Repeat("h", 4000)
	tk := time.NewTicker(time.Second / time.Duration(rate))
	defer tk.Stop()
	for seq := int64(1); ; {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		data, _ := json.Marshal(tick{Ch: -1, Seq: seq, Pad: pad})
		if _, ok := p.pub.Publish("tick", hotChannel, data); !ok {
			p.failed.Add(1)
			continue // retried with the same seq: slow readers check a prefix only
		}
		p.sent.Add(1)
		seq++
	}
}
