package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/pushi-io/pushi/internal/testkit"
)

// stormSink counts the webhook events it receives by name, and keeps the
// events of the channels a test watches (prefix "after-") with their
// arrival time.
type stormSink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	byName  map[string]int
	watched []stormEvent
}

type stormEvent struct {
	name, channel string
	at            time.Time
}

func newStormSink(t *testing.T) *stormSink {
	s := &stormSink{byName: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body struct {
			Events []struct{ Name, Channel string } `json:"events"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("webhook body %q: %v", raw, err)
		}
		now := time.Now()
		s.mu.Lock()
		for _, ev := range body.Events {
			s.byName[ev.Name]++
			if strings.HasPrefix(ev.Channel, "after-") {
				s.watched = append(s.watched, stormEvent{ev.Name, ev.Channel, now})
			}
		}
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stormSink) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

func (s *stormSink) eventsOf(channel string) []stormEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stormEvent
	for _, ev := range s.watched {
		if ev.channel == channel {
			out = append(out, ev)
		}
	}
	return out
}

// TestWebhookVacatedStormKeepsSubscribesAnswered is issue 10's first
// finding at a size that runs in seconds: 20 sockets holding 1 000 public
// channels each, on an app with a webhook, dropped at once. Their 20 000
// channel_vacated all come due 3 s later. Meanwhile a fresh subscribe on
// the same app must be answered within 1 s (before the fix each due timer
// scanned every pending entry under the dispatcher's mutex, which the hub
// waited for under the connection's lock), the goroutine count must stay
// bounded (before: one timer goroutine per due entry), and afterwards the
// webhooks still behave: a vacated after its 3 s, a quick re-join silent.
func TestWebhookVacatedStormKeepsSubscribesAnswered(t *testing.T) {
	// PUSHI_STORM_SOCKETS scales it up by hand (the finding's 50, 200).
	sockets, perSocket := 20, 1000
	if n, err := strconv.Atoi(os.Getenv("PUSHI_STORM_SOCKETS")); err == nil && n > 0 {
		sockets = n
	}
	total := sockets * perSocket
	sink := newStormSink(t)
	s := startServerWithApps(t, fmt.Sprintf(`{"apps":[{"id":%q,"key":%q,"secret":%q,"webhook_batching":true,"allow_private_targets":true,
		"limits":{"max_channels_per_connection":%d},"webhooks":[{"url":%q}]}]}`,
		appHooks.id, appHooks.key, appHooks.secret, perSocket, sink.srv.URL), nil)

	var holders []*wsClient
	for i := range sockets {
		c := s.connect(t, appHooks.key)
		var frames []byte
		for j := range perSocket {
			frames = append(frames, fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":"storm-%d-%d"}}`+"\n", i, j)...)
		}
		for _, f := range strings.Split(strings.TrimSpace(string(frames)), "\n") {
			c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := wsutil.WriteClientText(c.rw, []byte(f)); err != nil {
				t.Fatal(err)
			}
		}
		for range perSocket {
			c.expectEvent("pusher_internal:subscription_succeeded")
		}
		holders = append(holders, c)
	}
	// Let the channel_occupied webhooks drain (batched, 100 per body) so
	// that what follows measures the vacated storm only.
	testkit.Eventually(t, 30*time.Second, "the channel_occupied webhooks", func() bool {
		return sink.count("channel_occupied")+int(s.Hooks.Stats().QueueDropped) >= total
	})
	prober := s.connect(t, appHooks.key)
	runtime.GC()
	baseline := runtime.NumGoroutine()

	var peak, peakHeap atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for i := 0; ; i++ {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			if i%20 == 0 {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peakHeap.Store(max(peakHeap.Load(), int64(m.HeapInuse)))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	dropped := time.Now()
	for _, c := range holders {
		c.conn.Close()
	}
	// Probe from the drop until well after the 3 s delay has elapsed:
	// every subscribe must be answered within 1 s.
	var worst time.Duration
	probes := 0
	for time.Since(dropped) < 7*time.Second {
		channel := fmt.Sprint("probe-", probes)
		start := time.Now()
		prober.send("pusher:subscribe", map[string]any{"channel": channel})
		f, err := prober.read(10 * time.Second)
		took := time.Since(start)
		if err != nil || f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
			t.Fatalf("probe %d: %+v %v after %v", probes, f, err, took)
		}
		worst = max(worst, took)
		probes++
		time.Sleep(20 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled
	t.Logf("%d channels dropped; %d probes, slowest subscribe %v; goroutines %d before the drop, peak %d; peak heap in use %d MB; %+v",
		total, probes, worst, baseline, peak.Load(), peakHeap.Load()>>20, s.Hooks.Stats())
	if worst > time.Second {
		t.Errorf("a subscribe during the vacated storm took %v, want ≤ 1 s", worst)
	}
	if p := peak.Load(); p > int64(baseline)+500 {
		t.Errorf("goroutines peaked at %d (baseline %d) during the storm, want ≤ baseline + 500", p, baseline)
	}

	// Every vacated came out, or was counted dropped (the app's queue
	// holds 10 000 events; the hand-off did not overflow in any run).
	testkit.Eventually(t, 60*time.Second, "the storm's channel_vacated", func() bool {
		st := s.Hooks.Stats()
		return sink.count("channel_occupied")+sink.count("channel_vacated")+int(st.QueueDropped+st.HandoffFull) >= 2*total
	})
	t.Logf("after the storm: %d channel_vacated received, %+v", sink.count("channel_vacated"), s.Hooks.Stats())

	// Afterwards: a channel left for good is vacated after the 3 s delay,
	// one left and re-joined quickly raises nothing more.
	prober.subscribe("after-gone", nil)
	prober.subscribe("after-flap", nil)
	testkit.Eventually(t, 10*time.Second, "the fresh channel_occupied", func() bool {
		return len(sink.eventsOf("after-gone")) == 1 && len(sink.eventsOf("after-flap")) == 1
	})
	prober.send("pusher:unsubscribe", map[string]any{"channel": "after-gone"})
	prober.send("pusher:unsubscribe", map[string]any{"channel": "after-flap"})
	left := time.Now()
	prober.subscribe("after-flap", nil)
	testkit.Eventually(t, 10*time.Second, "after-gone's channel_vacated", func() bool { return len(sink.eventsOf("after-gone")) == 2 })
	if ev := sink.eventsOf("after-gone")[1]; ev.name != "channel_vacated" || ev.at.Sub(left) < 2500*time.Millisecond {
		t.Errorf("after-gone: %s %v after the leave, want channel_vacated after the 3 s delay", ev.name, ev.at.Sub(left))
	}
	time.Sleep(time.Until(left.Add(3500 * time.Millisecond)))
	if evs := sink.eventsOf("after-flap"); len(evs) != 1 || evs[0].name != "channel_occupied" {
		t.Errorf("after-flap: %+v, want only its first channel_occupied", evs)
	}
}
