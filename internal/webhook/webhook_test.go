package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/pushi-io/pushi/internal/apps"
)

// endpoint records what a test webhook endpoint received.
type endpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []body
	fail   atomic.Int32 // answer 500 to this many more requests
	block  chan struct{}
}

type body struct {
	header http.Header
	raw    []byte
	at     time.Time
	TimeMs int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.block != nil {
			<-e.block
		}
		raw, _ := io.ReadAll(r.Body)
		if e.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		b := body{header: r.Header.Clone(), raw: raw, at: time.Now()}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("body %q: %v", raw, err)
		}
		e.mu.Lock()
		e.bodies = append(e.bodies, b)
		e.mu.Unlock()
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) got() []body {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]body(nil), e.bodies...)
}

func (e *endpoint) events() []Event {
	var out []Event
	for _, b := range e.got() {
		out = append(out, b.Events...)
	}
	return out
}

// waitFor polls cond for up to 5 s: generous for a loaded machine; the
// assertions that follow are on content and counts, not time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testApp(hooks ...apps.Webhook) apps.App {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "1", "key-1", "secret-1", "one"
	a.Webhooks = hooks
	return a
}

func fastOptions() Options {
	return Options{Version: "test", Delay: 100 * time.Millisecond, BatchWait: 50 * time.Millisecond,
		RetryFirst: 20 * time.Millisecond, RetryMax: 80 * time.Millisecond, RetryFor: 500 * time.Millisecond}
}

func newDispatcher(t *testing.T, opts Options, list ...apps.App) (*Dispatcher, *apps.Static) {
	reg, err := apps.NewStatic(list)
	if err != nil {
		t.Fatal(err)
	}
	d := New(opts, reg)
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, reg
}

func TestBodyHeadersAndSignatureTheSDKAccepts(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL, Headers: map[string]string{"X-Extra": "1"}})
	d, reg := newDispatcher(t, fastOptions(), a)
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c"})
	waitFor(t, "one body", func() bool { return len(e.got()) == 1 })
	b := e.got()[0]
	h := b.header
	if h.Get("Content-Type") != "application/json" || h.Get("X-Pusher-Key") != "key-1" || h.Get("User-Agent") != "pushi/test" || h.Get("X-Extra") != "1" {
		t.Fatalf("headers %v", h)
	}
	if got, want := h.Get("X-Pusher-Signature"), Sign("secret-1", b.raw); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if age := time.Since(time.UnixMilli(b.TimeMs)); age < 0 || age > 5*time.Second {
		t.Fatalf("time_ms %d is %v old", b.TimeMs, age)
	}
	sdk := pusher.Client{AppID: "1", Key: "key-1", Secret: "secret-1"}
	hook, err := sdk.Webhook(h, b.raw)
	if err != nil || len(hook.Events) != 1 || hook.Events[0].Name != "channel_occupied" || hook.Events[0].Channel != "c" {
		t.Fatalf("the official SDK: %v %+v", err, hook)
	}
	wrong := pusher.Client{AppID: "1", Key: "key-1", Secret: "other"}
	if _, err := wrong.Webhook(h, b.raw); err == nil {
		t.Fatal("a wrong secret validated")
	}
}

func TestRotationSignsWithThePreviousSecretWhileValid(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.PreviousSecret, a.PreviousValidUntil = "old-secret", time.Now().Add(time.Hour)
	d, reg := newDispatcher(t, fastOptions(), a)
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	waitFor(t, "first body", func() bool { return len(e.got()) == 1 })
	a.PreviousValidUntil = time.Now().Add(-time.Second)
	if err := reg.Put(a); err != nil {
		t.Fatal(err)
	}
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-b"})
	waitFor(t, "second body", func() bool { return len(e.got()) == 2 })
	got := e.got()
	if got[0].header.Get("X-Pusher-Signature") != Sign("old-secret", got[0].raw) {
		t.Fatal("during the grace period the previous secret must sign")
	}
	if got[1].header.Get("X-Pusher-Signature") != Sign("secret-1", got[1].raw) {
		t.Fatal("after the grace period the current secret must sign")
	}
}

func TestEndpointFiltersAndBatchSplit(t *testing.T) {
	all, presence, occupied := newEndpoint(t), newEndpoint(t), newEndpoint(t)
	a := testApp(
		apps.Webhook{URL: all.srv.URL},
		apps.Webhook{URL: presence.srv.URL, Filter: &apps.WebhookFilter{ChannelNameStartsWith: "presence-", ChannelNameEndsWith: "-vip"}},
		apps.Webhook{URL: occupied.srv.URL, EventTypes: []string{"channel_occupied"}},
	)
	a.WebhookBatching = true
	d, reg := newDispatcher(t, fastOptions(), a)
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "channel_occupied", Channel: "presence-a-vip"})
	d.Emit(app, Event{Name: "member_added", Channel: "presence-a-vip", UserID: "u"})
	d.Emit(app, Event{Name: "channel_occupied", Channel: "presence-b"})
	d.Emit(app, Event{Name: "client_event", Channel: "news", Event: "client-x", Data: "d", SocketID: "1.2"})
	waitFor(t, "all three endpoints", func() bool {
		return len(all.events()) == 4 && len(presence.events()) == 2 && len(occupied.events()) == 2
	})
	if n := len(all.got()); n != 1 {
		t.Fatalf("batching: the unfiltered endpoint got %d bodies, want 1", n)
	}
	for _, ev := range presence.events() {
		if ev.Channel != "presence-a-vip" {
			t.Fatalf("filtered endpoint got %+v", ev)
		}
	}
	for _, ev := range occupied.events() {
		if ev.Name != "channel_occupied" {
			t.Fatalf("event_types endpoint got %+v", ev)
		}
	}
}

func TestBatchesAreBoundedAndALoneEventIsFlushed(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.WebhookBatching = true
	d, reg := newDispatcher(t, fastOptions(), a)
	for i := range 250 {
		d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c" + string(rune('a'+i%26))})
	}
	waitFor(t, "250 events", func() bool { return len(e.events()) == 250 })
	if n := len(e.got()); n != 3 {
		t.Fatalf("250 events in %d bodies, want 3 (100, 100, 50)", n)
	}
	for _, b := range e.got() {
		if len(b.Events) > 100 {
			t.Fatalf("a body of %d events", len(b.Events))
		}
	}
}

func TestDelayCancelsOutAndOrdersMemberBeforeVacated(t *testing.T) {
	e := newEndpoint(t)
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	// Left and back within the delay: nothing at all.
	d.Emit(app, Event{Name: "member_removed", Channel: "presence-x", UserID: "u"})
	d.Emit(app, Event{Name: "channel_vacated", Channel: "presence-x"})
	d.Emit(app, Event{Name: "channel_occupied", Channel: "presence-x"})
	d.Emit(app, Event{Name: "member_added", Channel: "presence-x", UserID: "u"})
	// Another user leaves for good: removed, then vacated, after the delay.
	start := time.Now()
	d.Emit(app, Event{Name: "member_removed", Channel: "presence-y", UserID: "v"})
	d.Emit(app, Event{Name: "channel_vacated", Channel: "presence-y"})
	waitFor(t, "the delayed pair", func() bool { return len(e.events()) == 2 })
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("sent after %v, before the delay", waited)
	}
	time.Sleep(200 * time.Millisecond)
	got := e.events()
	if len(got) != 2 || got[0].Name != "member_removed" || got[0].UserID != "v" || got[1].Name != "channel_vacated" || got[1].Channel != "presence-y" {
		t.Fatalf("events %+v, want member_removed v then channel_vacated presence-y only", got)
	}
}

func TestRetriesThenSuccessAndGiveUp(t *testing.T) {
	flaky, dead := newEndpoint(t), newEndpoint(t)
	flaky.fail.Store(2)
	dead.fail.Store(1 << 30)
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: flaky.srv.URL}, apps.Webhook{URL: dead.srv.URL}))
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	waitFor(t, "the flaky endpoint's delivery", func() bool { return len(flaky.got()) == 1 })
	waitFor(t, "the dead endpoint given up", func() bool { return d.Stats().Dropped == 1 })
	s := d.Stats()
	if s.Sent != 1 || len(flaky.got()) != 1 {
		t.Fatalf("stats %+v, flaky bodies %d: want one delivery", s, len(flaky.got()))
	}
	// flaky: 2 failures; dead: every attempt within RetryFor (≥ 4 at
	// 20, 40, 80, 80 ms backoff ±20 % inside 500 ms).
	if s.Failed < 6 || s.Retried != s.Failed-1 {
		t.Fatalf("stats %+v: want ≥ 6 failed attempts and one retry per failure but the last", s)
	}
}

func TestBackoffDoublesCapsAndJitters(t *testing.T) {
	for attempts, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: 60 * time.Second, 30: 60 * time.Second} {
		for range 50 {
			w := backoff(time.Second, 60*time.Second, attempts)
			if w < base*8/10 || w > base*12/10 {
				t.Fatalf("attempt %d: %v outside %v ±20 %%", attempts, w, base)
			}
		}
	}
}

func TestQueueBoundDropsTheOldest(t *testing.T) {
	e := newEndpoint(t)
	e.block = make(chan struct{})
	opts := fastOptions()
	opts.QueueMax, opts.Senders = 10, 1
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "cache_miss", Channel: "in-flight"})
	waitFor(t, "the first request in flight", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.busy) == 1
	})
	for i := range 15 {
		d.Emit(app, Event{Name: "cache_miss", Channel: string(rune('a' + i))})
	}
	if q := d.Stats().QueueDropped; q != 5 {
		t.Fatalf("QueueDropped %d, want 5", q)
	}
	close(e.block)
	waitFor(t, "the kept events", func() bool { return len(e.events()) == 11 })
	got := e.events()
	if got[0].Channel != "in-flight" || got[1].Channel != "f" || got[10].Channel != "o" {
		t.Fatalf("kept %v…, want in-flight then f…o (a…e, the oldest, dropped)", got)
	}
}

func TestCloseFlushesAndLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.WebhookBatching = true
	opts := fastOptions()
	opts.BatchWait, opts.Delay = time.Hour, time.Hour
	reg, _ := apps.NewStatic([]apps.App{a})
	d := New(opts, reg)
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "batched"})
	d.Emit(reg.ByID("1"), Event{Name: "channel_vacated", Channel: "delayed"})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.events(); len(got) != 2 {
		t.Fatalf("after Close the endpoint has %+v, want the batched and the delayed event", got)
	}
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "late"}) // ignored, no panic
	e.srv.CloseClientConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestEmitWithoutEndpointsAllocatesNothing(t *testing.T) {
	d, reg := newDispatcher(t, fastOptions(), testApp())
	app := reg.ByID("1")
	if n := testing.AllocsPerRun(1000, func() { d.Emit(app, Event{Name: "client_event", Channel: "c", Data: "x"}) }); n != 0 {
		t.Fatalf("%v allocations per Emit for an app without webhooks", n)
	}
}
