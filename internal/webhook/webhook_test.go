package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/testkit"
)

// endpoint is a test webhook receiver recording what it got.
type endpoint struct {
	srv      *httptest.Server
	mu       sync.Mutex
	bodies   []body      // answered 200
	attempts []time.Time // every request, answered or not
	fail     atomic.Int32
	block    chan struct{} // when set, requests wait for it (or their cancellation)
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
		// Read the body first: only then does the server notice a client
		// that gives up, and cancel r.Context().
		raw, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.attempts = append(e.attempts, time.Now())
		block := e.block
		e.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
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
	return slices.Clone(e.bodies)
}

func (e *endpoint) tries() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.attempts)
}

func (e *endpoint) events() []Event {
	var out []Event
	for _, b := range e.got() {
		out = append(out, b.Events...)
	}
	return out
}

func names(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Name + ":" + ev.Channel + ":" + ev.UserID
	}
	return out
}

// hmacHex is the signature computed independently of the package's Sign.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func testApp(hooks ...apps.Webhook) apps.App {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "1", "key-1", "secret-1", "one"
	a.Webhooks = hooks
	a.AllowPrivateTargets = true // the test endpoints listen on 127.0.0.1
	return a
}

func fastOptions() Options {
	return Options{Version: "test", Delay: 100 * time.Millisecond, BatchWait: 50 * time.Millisecond,
		RetryFirst: 20 * time.Millisecond, RetryMax: 80 * time.Millisecond, RetryFor: 500 * time.Millisecond}
}

func newDispatcher(t *testing.T, opts Options, list ...apps.App) (*Dispatcher, *apps.Writable) {
	reg, err := apps.NewWritable(list)
	if err != nil {
		t.Fatal(err)
	}
	d := New(opts, reg)
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, reg
}

// fixedRegistry serves apps as given, without the validation of
// apps.Static (which refuses extra headers that shadow the signed ones).
type fixedRegistry map[string]*apps.App

func (r fixedRegistry) ByID(id string) *apps.App { return r[id] }

func (r fixedRegistry) ByKey(key string) *apps.App {
	for _, a := range r {
		if a.Key == key {
			return a
		}
	}
	return nil
}

func TestBodyHeadersAndSignatureTheSDKAccepts(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL, Headers: map[string]string{"X-Extra": "1"}})
	d, reg := newDispatcher(t, fastOptions(), a)
	before := time.Now().UnixMilli()
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c"})
	testkit.Eventually(t, 5*time.Second, "one body", func() bool { return len(e.got()) == 1 })
	b := e.got()[0]
	h := b.header
	if ct := h.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json", ct)
	}
	if h.Get("X-Pusher-Key") != "key-1" || h.Get("User-Agent") != "pushi/test" || h.Get("X-Extra") != "1" {
		t.Fatalf("headers %v", h)
	}
	if got, want := h.Get("X-Pusher-Signature"), hmacHex("secret-1", b.raw); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if b.TimeMs < before || b.TimeMs > time.Now().UnixMilli() {
		t.Fatalf("time_ms %d not between the Emit (%d) and now", b.TimeMs, before)
	}
	if want := fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"channel_occupied","channel":"c"}]}`, b.TimeMs); string(b.raw) != want {
		t.Fatalf("body %s, want %s", b.raw, want)
	}
	sdk := pusher.Client{AppID: "1", Key: "key-1", Secret: "secret-1"}
	hook, err := sdk.Webhook(h, b.raw)
	if err != nil || hook.TimeMs != int(b.TimeMs) || len(hook.Events) != 1 || hook.Events[0].Name != "channel_occupied" || hook.Events[0].Channel != "c" {
		t.Fatalf("the official SDK: %v %+v", err, hook)
	}
	wrong := pusher.Client{AppID: "1", Key: "key-1", Secret: "other"}
	if _, err := wrong.Webhook(h, b.raw); err == nil {
		t.Fatal("a wrong secret validated")
	}
	otherKey := pusher.Client{AppID: "1", Key: "key-2", Secret: "secret-1"}
	if _, err := otherKey.Webhook(h, b.raw); err == nil {
		t.Fatal("a wrong key validated")
	}
}

// TestSpecVector reproduces docs/protocol.md §16's webhook row byte for byte.
func TestSpecVector(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.Key, a.Secret = "278d425bdf160c739803", "7ad3773142a6692b25b8"
	opts := fastOptions()
	opts.Now = func() time.Time { return time.UnixMilli(1327078148132) }
	d, reg := newDispatcher(t, opts, a)
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "test_channel"})
	testkit.Eventually(t, 5*time.Second, "one body", func() bool { return len(e.got()) == 1 })
	b := e.got()[0]
	if want := `{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`; string(b.raw) != want {
		t.Fatalf("body %s, want %s", b.raw, want)
	}
	const digest = "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
	if got := b.header.Get("X-Pusher-Signature"); got != digest || Sign(a.Secret, b.raw) != digest {
		t.Fatalf("signature %s, want %s", got, digest)
	}
}

func TestEventJSON(t *testing.T) {
	zero, three := 0, 3
	for _, c := range []struct {
		ev   Event
		want string
	}{
		{Event{Name: "channel_vacated", Channel: "c"}, `{"name":"channel_vacated","channel":"c"}`},
		{Event{Name: "member_added", Channel: "presence-c", UserID: "7"}, `{"name":"member_added","channel":"presence-c","user_id":"7"}`},
		{Event{Name: "client_event", Channel: "private-c", Event: "client-x", SocketID: "1.2"},
			`{"name":"client_event","channel":"private-c","event":"client-x","socket_id":"1.2","data":""}`},
		{Event{Name: "client_event", Channel: "presence-c", UserID: "u", Event: "client-x", Data: `{"a":1}`, SocketID: "1.2"},
			`{"name":"client_event","channel":"presence-c","user_id":"u","event":"client-x","socket_id":"1.2","data":"{\"a\":1}"}`},
		{Event{Name: "subscription_count", Channel: "c", SubscriptionCount: &zero}, `{"name":"subscription_count","channel":"c","subscription_count":0}`},
		{Event{Name: "subscription_count", Channel: "c", SubscriptionCount: &three}, `{"name":"subscription_count","channel":"c","subscription_count":3}`},
		{Event{Name: "subscription_count", Channel: "c"}, `{"name":"subscription_count","channel":"c","subscription_count":0}`},
		{Event{Name: "cache_miss", Channel: "cache-c"}, `{"name":"cache_miss","channel":"cache-c"}`},
	} {
		got, err := json.Marshal(c.ev)
		if err != nil || string(got) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.ev, got, err, c.want)
		}
		var back Event
		if err := json.Unmarshal(got, &back); err != nil || back.Name != c.ev.Name || back.Data != c.ev.Data {
			t.Errorf("%s does not read back: %+v %v", got, back, err)
		}
	}
}

func TestSignedHeadersCannotBeOverridden(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL, Headers: map[string]string{
		"content-type": "text/plain", "X-Pusher-Key": "evil", "X-PUSHER-SIGNATURE": "forged", "X-Extra": "kept"}})
	d := New(fastOptions(), fixedRegistry{"1": &a})
	defer d.Close(context.Background())
	d.Emit(&a, Event{Name: "cache_miss", Channel: "cache-c"})
	testkit.Eventually(t, 5*time.Second, "one body", func() bool { return len(e.got()) == 1 })
	b := e.got()[0]
	if ct := b.header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" ||
		b.header.Get("X-Pusher-Key") != "key-1" || b.header.Get("X-Pusher-Signature") != hmacHex("secret-1", b.raw) ||
		b.header.Get("X-Extra") != "kept" {
		t.Fatalf("headers %v", b.header)
	}
}

func TestRotationSignsWithThePreviousSecretWhileValid(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.PreviousSecret, a.PreviousValidUntil = "old-secret", time.Now().Add(time.Hour)
	d, reg := newDispatcher(t, fastOptions(), a)
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	testkit.Eventually(t, 5*time.Second, "first body", func() bool { return len(e.got()) == 1 })
	a.PreviousValidUntil = time.Now().Add(-time.Second)
	if err := reg.Put(a); err != nil {
		t.Fatal(err)
	}
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-b"})
	testkit.Eventually(t, 5*time.Second, "second body", func() bool { return len(e.got()) == 2 })
	got := e.got()
	if got[0].header.Get("X-Pusher-Signature") != hmacHex("old-secret", got[0].raw) {
		t.Fatal("during the grace period the previous secret must sign")
	}
	if got[1].header.Get("X-Pusher-Signature") != hmacHex("secret-1", got[1].raw) {
		t.Fatal("after the grace period the current secret must sign")
	}
	sdk := pusher.Client{AppID: "1", Key: "key-1", Secret: "old-secret"}
	if _, err := sdk.Webhook(got[0].header, got[0].raw); err != nil {
		t.Fatalf("the SDK with the previous secret: %v", err)
	}
}

// TestEndpointReadAtSendTime: the key, secret and headers are the app's
// at send time; a removed endpoint gets nothing.
func TestEndpointReadAtSendTime(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL, Headers: map[string]string{"X-Extra": "old"}})
	a.WebhookBatching = true
	opts := fastOptions()
	opts.BatchWait = 300 * time.Millisecond
	d, reg := newDispatcher(t, opts, a)
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	a.Webhooks = []apps.Webhook{{URL: e.srv.URL, Headers: map[string]string{"X-Extra": "new"}}}
	a.Secret = "secret-2"
	if err := reg.Put(a); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the batch", func() bool { return len(e.got()) == 1 })
	if b := e.got()[0]; b.header.Get("X-Extra") != "new" || b.header.Get("X-Pusher-Signature") != hmacHex("secret-2", b.raw) {
		t.Fatalf("headers %v: want the app as it is at send time", b.header)
	}
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-b"})
	a.Webhooks = []apps.Webhook{}
	if err := reg.Put(a); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the body for a removed endpoint dropped", func() bool { return d.Stats().Dropped == 1 })
	if n := len(e.tries()); n != 1 {
		t.Fatalf("%d requests, want 1: the removed endpoint must not be called", n)
	}
}

func TestEndpointFiltersAndBatchSplit(t *testing.T) {
	for _, batching := range []bool{false, true} {
		t.Run(fmt.Sprint("batching=", batching), func(t *testing.T) {
			all, presence, occupied := newEndpoint(t), newEndpoint(t), newEndpoint(t)
			a := testApp(
				apps.Webhook{URL: all.srv.URL},
				apps.Webhook{URL: presence.srv.URL, Filter: &apps.WebhookFilter{ChannelNameStartsWith: "presence-", ChannelNameEndsWith: "-vip"}},
				apps.Webhook{URL: occupied.srv.URL, EventTypes: []string{"channel_occupied", "cache_miss"}},
			)
			a.WebhookBatching = batching
			d, reg := newDispatcher(t, fastOptions(), a)
			app := reg.ByID("1")
			d.Emit(app, Event{Name: "channel_occupied", Channel: "presence-a-vip"})
			d.Emit(app, Event{Name: "member_added", Channel: "presence-a-vip", UserID: "u"})
			d.Emit(app, Event{Name: "channel_occupied", Channel: "presence-b"})
			d.Emit(app, Event{Name: "channel_occupied", Channel: "x-vip"})
			d.Emit(app, Event{Name: "client_event", Channel: "news", Event: "client-x", Data: "d", SocketID: "1.2"})
			testkit.Eventually(t, 5*time.Second, "all three endpoints", func() bool {
				return len(all.events()) == 5 && len(presence.events()) == 2 && len(occupied.events()) == 3
			})
			time.Sleep(150 * time.Millisecond) // nothing more arrives
			wantBodies := map[*endpoint]int{all: 5, presence: 2, occupied: 3}
			if batching {
				wantBodies = map[*endpoint]int{all: 1, presence: 1, occupied: 1}
			}
			for e, n := range wantBodies {
				if got := len(e.got()); got != n {
					t.Fatalf("%s got %d bodies, want %d", e.srv.URL, got, n)
				}
			}
			if got := names(presence.events()); !slices.Equal(got, []string{"channel_occupied:presence-a-vip:", "member_added:presence-a-vip:u"}) {
				t.Fatalf("filtered endpoint got %v", got)
			}
			if got := names(occupied.events()); !slices.Equal(got, []string{"channel_occupied:presence-a-vip:", "channel_occupied:presence-b:", "channel_occupied:x-vip:"}) {
				t.Fatalf("event_types endpoint got %v", got)
			}
			if got := all.events(); len(got) != 5 || got[4].Name != "client_event" || got[4].Data != "d" || got[4].SocketID != "1.2" {
				t.Fatalf("unfiltered endpoint got %+v", got)
			}
		})
	}
}

func TestBatchesAreBounded(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.WebhookBatching = true
	opts := fastOptions()
	opts.BatchWait = time.Second // 250 Emits take far less, however loaded the machine
	d, reg := newDispatcher(t, opts, a)
	for i := range 250 {
		d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: fmt.Sprint("c", i)})
	}
	testkit.Eventually(t, 5*time.Second, "250 events", func() bool { return len(e.events()) == 250 })
	var sizes []int
	for _, b := range e.got() {
		sizes = append(sizes, len(b.Events))
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Fatalf("body sizes %v, want [100 100 50]", sizes)
	}
	for i, ev := range e.events() {
		if ev.Channel != fmt.Sprint("c", i) {
			t.Fatalf("event %d is %s: one endpoint's first attempts keep their order", i, ev.Channel)
		}
	}
}

func TestALoneBatchedEventIsFlushedAfterBatchWait(t *testing.T) {
	e := newEndpoint(t)
	a := testApp(apps.Webhook{URL: e.srv.URL})
	a.WebhookBatching = true
	d, reg := newDispatcher(t, fastOptions(), a)
	start := time.Now()
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "c"})
	testkit.Eventually(t, 5*time.Second, "the lone event", func() bool { return len(e.got()) == 1 })
	if waited := e.got()[0].at.Sub(start); waited < 50*time.Millisecond {
		t.Fatalf("flushed after %v, before BatchWait", waited)
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
	testkit.Eventually(t, 5*time.Second, "the delayed pair", func() bool { return len(e.events()) == 2 })
	if waited := e.got()[0].at.Sub(start); waited < 100*time.Millisecond {
		t.Fatalf("sent after %v, before the delay", waited)
	}
	time.Sleep(300 * time.Millisecond)
	if got := names(e.events()); !slices.Equal(got, []string{"member_removed:presence-y:v", "channel_vacated:presence-y:"}) {
		t.Fatalf("events %v, want member_removed v then channel_vacated presence-y only", got)
	}
}

func TestVacatedThenOccupiedSendsNothing(t *testing.T) {
	e := newEndpoint(t)
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "channel_vacated", Channel: "c"})
	d.Emit(app, Event{Name: "channel_occupied", Channel: "c"})
	d.Emit(app, Event{Name: "member_removed", Channel: "presence-c", UserID: "u"})
	d.Emit(app, Event{Name: "member_added", Channel: "presence-c", UserID: "u"})
	d.Emit(app, Event{Name: "cache_miss", Channel: "marker"}) // proves the dispatcher is sending
	testkit.Eventually(t, 5*time.Second, "the marker", func() bool { return len(e.got()) >= 1 })
	time.Sleep(400 * time.Millisecond) // 4 × Delay
	if got := names(e.events()); !slices.Equal(got, []string{"cache_miss:marker:"}) {
		t.Fatalf("events %v, want only the marker", got)
	}
}

// TestDelayIsKeyedByChannelAndUser: only the same channel (and user) cancels.
func TestDelayIsKeyedByChannelAndUser(t *testing.T) {
	e := newEndpoint(t)
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "member_removed", Channel: "presence-c", UserID: "u1"})
	d.Emit(app, Event{Name: "member_added", Channel: "presence-c", UserID: "u2"}) // another user
	d.Emit(app, Event{Name: "member_added", Channel: "presence-d", UserID: "u1"}) // another channel
	d.Emit(app, Event{Name: "channel_vacated", Channel: "a"})
	d.Emit(app, Event{Name: "channel_occupied", Channel: "b"})
	testkit.Eventually(t, 5*time.Second, "five events", func() bool { return len(e.events()) == 5 })
	time.Sleep(200 * time.Millisecond)
	got := names(e.events())
	// The undelayed ones first, in order; the delayed ones after the delay.
	if !slices.Equal(got[:3], []string{"member_added:presence-c:u2", "member_added:presence-d:u1", "channel_occupied:b:"}) ||
		!slices.Contains(got[3:], "member_removed:presence-c:u1") || !slices.Contains(got[3:], "channel_vacated:a:") || len(got) != 5 {
		t.Fatalf("events %v", got)
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	e := newEndpoint(t)
	e.fail.Store(2)
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: e.srv.URL}))
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	testkit.Eventually(t, 5*time.Second, "the delivery", func() bool { return len(e.got()) == 1 })
	time.Sleep(200 * time.Millisecond) // no duplicate follows
	if s := d.Stats(); s != (Stats{Sent: 1, Failed: 2, Retried: 2}) {
		t.Fatalf("stats %+v, want Sent 1, Failed 2, Retried 2", s)
	}
	if n := len(e.tries()); n != 3 || len(e.got()) != 1 {
		t.Fatalf("%d requests and %d deliveries, want 3 and 1", n, len(e.got()))
	}
	if b := e.got()[0]; b.header.Get("X-Pusher-Signature") != hmacHex("secret-1", b.raw) || len(b.Events) != 1 || b.Events[0].Channel != "cache-a" {
		t.Fatalf("retried body %s", b.raw)
	}
}

func TestRetriesBackOffThenGiveUp(t *testing.T) {
	e := newEndpoint(t)
	e.fail.Store(1 << 30)
	opts := fastOptions()
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "cache-a"})
	testkit.Eventually(t, 5*time.Second, "the body given up", func() bool { return d.Stats().Dropped == 1 })
	tries := e.tries()
	s := d.Stats()
	if s.Sent != 0 || s.Failed != uint64(len(tries)) || s.Retried != s.Failed-1 {
		t.Fatalf("stats %+v after %d requests: want every request failed and retried but the last", s, len(tries))
	}
	if len(tries) < 3 {
		t.Fatalf("%d attempts in RetryFor %v, want at least 3", len(tries), opts.RetryFor)
	}
	// Each wait is at least 80 % of RetryFirst doubled per attempt, capped.
	want := opts.RetryFirst
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < want*8/10 {
			t.Fatalf("attempt %d came %v after the previous one, want ≥ %v (attempts %v)", i+1, gap, want*8/10, tries)
		}
		want = min(2*want, opts.RetryMax)
	}
	if span := tries[len(tries)-1].Sub(tries[0]); span > opts.RetryFor+time.Second {
		t.Fatalf("attempts span %v, beyond RetryFor %v", span, opts.RetryFor)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(e.tries()); n != len(tries) {
		t.Fatalf("%d attempts after giving up at %d", n, len(tries))
	}
}

func TestBackoffDoublesCapsAndJitters(t *testing.T) {
	for attempts, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: 60 * time.Second, 30: 60 * time.Second} {
		low, high := base, time.Duration(0)
		for range 200 {
			w := backoff(time.Second, 60*time.Second, attempts)
			if w < base*8/10 || w > base*12/10 {
				t.Fatalf("attempt %d: %v outside %v ±20 %%", attempts, w, base)
			}
			low, high = min(low, w), max(high, w)
		}
		if high-low < base/10 {
			t.Fatalf("attempt %d: waits %v…%v are not jittered", attempts, low, high)
		}
	}
}

func TestQueueBoundDropsTheOldest(t *testing.T) {
	e := newEndpoint(t)
	release := make(chan struct{})
	e.block = release
	opts := fastOptions()
	opts.QueueMax = 10
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "cache_miss", Channel: "in-flight"})
	testkit.Eventually(t, 5*time.Second, "the first request in flight", func() bool { return len(e.tries()) == 1 })
	for i := range 15 {
		d.Emit(app, Event{Name: "cache_miss", Channel: string(rune('a' + i))})
	}
	// Emit hands over; the intake goroutine applies the bound.
	testkit.Eventually(t, 5*time.Second, "the oldest 5 dropped", func() bool { return d.Stats().QueueDropped >= 5 })
	if q := d.Stats().QueueDropped; q != 5 {
		t.Fatalf("QueueDropped %d, want 5", q)
	}
	close(release)
	testkit.Eventually(t, 5*time.Second, "the kept events", func() bool { return len(e.events()) == 11 })
	var got []string
	for _, ev := range e.events() {
		got = append(got, ev.Channel)
	}
	if want := []string{"in-flight", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v (a…e, the oldest, dropped)", got, want)
	}
}

// TestQueueBoundCoversRetries: bodies waiting for a retry count against
// the app's queue, the oldest go first, and Close abandons the rest.
func TestQueueBoundCoversRetries(t *testing.T) {
	e := newEndpoint(t)
	e.fail.Store(1 << 30)
	opts := fastOptions()
	opts.QueueMax, opts.RetryFirst, opts.RetryMax, opts.RetryFor = 3, time.Hour, time.Hour, 2*time.Hour
	reg, _ := apps.NewStatic([]apps.App{testApp(apps.Webhook{URL: e.srv.URL})})
	d := New(opts, reg)
	for i := range 5 {
		d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: fmt.Sprint("c", i)})
		testkit.Eventually(t, 5*time.Second, "the attempt to fail", func() bool { return d.Stats().Failed == uint64(i+1) })
	}
	d.mu.Lock()
	var waiting []string
	for _, w := range d.apps["1"].retrying.items[d.apps["1"].retrying.head:] {
		if w.live() {
			var b body
			json.Unmarshal(w.dl.body, &b)
			waiting = append(waiting, b.Events[0].Channel)
		}
	}
	d.mu.Unlock()
	if s := d.Stats(); s.Retried != 5 || s.QueueDropped != 2 || s.Dropped != 0 {
		t.Fatalf("stats %+v, want Retried 5, QueueDropped 2", s)
	}
	if !slices.Equal(waiting, []string{"c2", "c3", "c4"}) {
		t.Fatalf("waiting %v, want the newest three", waiting)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Dropped != 3 {
		t.Fatalf("stats %+v: Close must count the 3 abandoned retries as dropped", s)
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
	if got := names(e.events()); !slices.Equal(got, []string{"channel_occupied:batched:", "channel_vacated:delayed:"}) {
		t.Fatalf("after Close the endpoint has %v, want the batched and the delayed event", got)
	}
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "late"}) // ignored, no panic
	d.Emit(reg.ByID("1"), Event{Name: "channel_vacated", Channel: "late"})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal("a second Close:", err)
	}
	e.srv.Close()
	testkit.Eventually(t, 5*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before })
	if n := len(e.events()); n != 2 {
		t.Fatalf("%d events, want nothing after Close", n)
	}
}

// TestCloseGivesUpAtItsDeadline: a hung endpoint does not hold Close past
// its context; what was not sent is counted dropped, and nothing leaks.
func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEndpoint(t)
	e.block = make(chan struct{}) // never released: requests end when cancelled
	opts := fastOptions()
	opts.Timeout = time.Minute
	reg, _ := apps.NewStatic([]apps.App{testApp(apps.Webhook{URL: e.srv.URL})})
	d := New(opts, reg)
	for i := range 3 {
		d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: fmt.Sprint("c", i)})
	}
	testkit.Eventually(t, 5*time.Second, "a request in flight", func() bool { return len(e.tries()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v with a 100 ms deadline", took)
	}
	if s := d.Stats(); s.Dropped != 3 || s.Sent != 0 {
		t.Fatalf("stats %+v, want the in-flight and the 2 queued bodies dropped", s)
	}
	e.srv.CloseClientConnections()
	e.srv.Close()
	testkit.Eventually(t, 5*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before })
}

func TestEmitWithoutEndpointsAllocatesNothing(t *testing.T) {
	d, reg := newDispatcher(t, fastOptions(), testApp())
	app := reg.ByID("1")
	for _, name := range []string{"client_event", "channel_vacated", "channel_occupied"} {
		if n := testing.AllocsPerRun(1000, func() { d.Emit(app, Event{Name: name, Channel: "c", Data: "x"}) }); n != 0 {
			t.Fatalf("%v allocations per %s Emit for an app without webhooks", n, name)
		}
	}
	if s := d.Stats(); s != (Stats{}) {
		t.Fatalf("stats %+v", s)
	}
}

// TestManyAppsAndEndpoints drives several apps and endpoints at once under
// the race detector: every event arrives exactly once, at its own app's
// endpoint, signed with that app's secret.
func TestManyAppsAndEndpoints(t *testing.T) {
	const nApps, perApp = 6, 200
	var list []apps.App
	var eps []*endpoint
	for i := range nApps {
		e := newEndpoint(t)
		if i%2 == 0 {
			e.fail.Store(3) // a few retries in the mix
		}
		eps = append(eps, e)
		a := testApp(apps.Webhook{URL: e.srv.URL})
		a.ID, a.Key, a.Secret = fmt.Sprint("app", i), fmt.Sprint("key", i), fmt.Sprint("secret", i)
		a.WebhookBatching = i%3 == 0
		list = append(list, a)
	}
	d, reg := newDispatcher(t, fastOptions(), list...)
	var wg sync.WaitGroup
	for i := range nApps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app := reg.ByID(fmt.Sprint("app", i))
			for j := range perApp {
				d.Emit(app, Event{Name: "cache_miss", Channel: fmt.Sprint("c", j)})
			}
		}()
	}
	wg.Wait()
	for i, e := range eps {
		testkit.Eventually(t, 5*time.Second, fmt.Sprint("app", i, "'s events"), func() bool { return len(e.events()) == perApp })
		seen := map[string]bool{}
		for _, b := range e.got() {
			if b.header.Get("X-Pusher-Key") != fmt.Sprint("key", i) || b.header.Get("X-Pusher-Signature") != hmacHex(fmt.Sprint("secret", i), b.raw) {
				t.Fatalf("app%d: a body signed for another app: %v", i, b.header)
			}
			for _, ev := range b.Events {
				if seen[ev.Channel] {
					t.Fatalf("app%d: %s twice", i, ev.Channel)
				}
				seen[ev.Channel] = true
			}
		}
	}
	if s := d.Stats(); s.QueueDropped != 0 || s.Dropped != 0 || s.Failed != 3*nApps/2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFIFO(t *testing.T) {
	var q fifo[int]
	next, want := 0, 0
	for round := range 50 {
		for range round % 7 * 30 {
			q.push(next)
			next++
		}
		for range round % 5 * 40 {
			v, ok := q.pop()
			if !ok {
				break
			}
			if v != want {
				t.Fatalf("popped %d, want %d", v, want)
			}
			want++
		}
		if q.len() != next-want {
			t.Fatalf("len %d, want %d", q.len(), next-want)
		}
		if v, ok := q.peek(); ok != (q.len() > 0) || (ok && v != want) {
			t.Fatalf("peek %d %v, want %d", v, ok, want)
		}
	}
	// A steady backlog of 100 keeps a small array, however many pass.
	var s fifo[int]
	for i := range 100_000 {
		s.push(i)
		if i >= 100 {
			if v, _ := s.pop(); v != i-100 {
				t.Fatalf("popped %d, want %d", v, i-100)
			}
		}
	}
	if s.len() != 100 || cap(s.items) > 1024 {
		t.Fatalf("len %d, capacity %d: popped items are not reclaimed", s.len(), cap(s.items))
	}
}
