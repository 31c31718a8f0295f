package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/pushi-io/pushi/internal/testkit"
)

// hookSink is a backend receiving protocol webhooks, each checked and
// parsed by the official Go SDK (signature, key, body).
type hookSink struct {
	t      *testing.T
	sdk    pusher.Client
	mu     sync.Mutex
	events []pusher.WebhookEvent
	raw    []map[string]any // the same events as sent, for fields the SDK drops
	srv    *httptest.Server
}

func newHookSink(t *testing.T, a testApp) *hookSink {
	h := &hookSink{t: t, sdk: pusher.Client{AppID: a.id, Key: a.key, Secret: a.secret}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hook, err := h.sdk.Webhook(r.Header, body)
		if err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook refused by the SDK: %v (Content-Type %q) %s", err, r.Header.Get("Content-Type"), body)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var raw struct {
			Events []map[string]any `json:"events"`
		}
		json.Unmarshal(body, &raw)
		h.mu.Lock()
		h.events = append(h.events, hook.Events...)
		h.raw = append(h.raw, raw.Events...)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait returns the events once n have arrived (and fails after 10 s).
func (h *hookSink) wait(n int) []pusher.WebhookEvent {
	h.t.Helper()
	var got []pusher.WebhookEvent
	testkit.Eventually(h.t, 10*time.Second, fmt.Sprint(n, " webhook events"), func() bool {
		h.mu.Lock()
		got = append([]pusher.WebhookEvent(nil), h.events...)
		h.mu.Unlock()
		return len(got) >= n
	})
	return got
}

func (h *hookSink) rawEvents() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.raw...)
}

func (h *hookSink) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

var appHooks = testApp{"700001", "key-hooks", "secret-hooks"}

func startHookServer(t *testing.T, sink *hookSink, extra string) *testServer {
	// allow_private_targets: the sink listens on 127.0.0.1.
	return startServerWithApps(t, fmt.Sprintf(`{"apps":[{"id":%q,"key":%q,"secret":%q,"client_events":true,"allow_private_targets":true,
		"webhooks":[{"url":%q}]%s}]}`, appHooks.id, appHooks.key, appHooks.secret, sink.srv.URL, extra), nil)
}

// Presence join, client event and leave raise, in order, channel_occupied,
// member_added, client_event (with user_id, on a presence channel),
// member_removed and channel_vacated, the last two after the 3 s delay;
// every request passes the official SDK's signature check.
func TestWebhooksPresenceLifecycle(t *testing.T) {
	sink := newHookSink(t, appHooks)
	s := startHookServer(t, sink, "")
	c := s.connect(t, appHooks.key)
	c.subscribePresence(appHooks, "presence-room", `{"user_id":7,"user_info":{"n":"a"}}`)
	c.sendText(`{"event":"client-typing","channel":"presence-room","data":{"on":true}}`)
	c.sendText(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	left := time.Now()
	got := sink.wait(5)
	want := []pusher.WebhookEvent{
		{Name: "channel_occupied", Channel: "presence-room"},
		{Name: "member_added", Channel: "presence-room", UserID: "7"},
		{Name: "client_event", Channel: "presence-room", Event: "client-typing", Data: `{"on":true}`, SocketID: c.socketID, UserID: "7"},
		{Name: "member_removed", Channel: "presence-room", UserID: "7"},
		{Name: "channel_vacated", Channel: "presence-room"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}
	if waited := time.Since(left); waited < 2500*time.Millisecond {
		t.Fatalf("member_removed/channel_vacated came %v after the leave, want the 3 s delay", waited)
	}
	time.Sleep(300 * time.Millisecond)
	if n := sink.count(); n != 5 {
		t.Fatalf("%d events, want exactly 5", n)
	}
	// Unbatched: five bodies, each answered 200, as /metrics reports.
	m := s.scrape(t)
	if v, _ := value(m, "pushi_webhook_requests_total", map[string]string{"outcome": "sent"}); v != 5 {
		t.Fatalf("pushi_webhook_requests_total{outcome=sent} = %v, want 5", v)
	}
	if v, ok := value(m, "pushi_webhook_requests_total", map[string]string{"outcome": "failed"}); !ok || v != 0 {
		t.Fatalf("pushi_webhook_requests_total{outcome=failed} = %v (listed %v), want 0", v, ok)
	}
}

// Leaving and coming back within the delay is invisible to the backend:
// neither channel_vacated nor a second channel_occupied is sent.
func TestWebhooksRejoinWithinDelayIsSilent(t *testing.T) {
	sink := newHookSink(t, appHooks)
	s := startHookServer(t, sink, "")
	a := s.connect(t, appHooks.key)
	a.subscribe("flap", nil)
	sink.wait(1)
	a.sendText(`{"event":"pusher:unsubscribe","data":{"channel":"flap"}}`)
	a.pingPong()
	a.subscribe("flap", nil)
	time.Sleep(3500 * time.Millisecond)
	if got := sink.wait(1); len(got) != 1 || got[0].Name != "channel_occupied" {
		t.Fatalf("events %+v, want only the first channel_occupied", got)
	}
}

// A cache miss raises cache_miss once per channel until something is
// cached; subscription_count follows the count; a client event on a
// private channel has no user_id. With batching on, as above.
func TestWebhooksCacheMissCountAndPublicClientEvent(t *testing.T) {
	sink := newHookSink(t, appHooks)
	s := startHookServer(t, sink, `,"webhook_batching":true,"subscription_count":true`)
	// One connection per subscription: the count frames then need no
	// ordering against the rest.
	for range 2 {
		c := s.connect(t, appHooks.key)
		c.subscribe("cache-prices", nil)
		c.expectEvent("pusher:cache_miss")
		c.expectEvent("pusher_internal:subscription_count")
	}
	p := s.connect(t, appHooks.key)
	p.subscribePrivate(appHooks, "private-chat")
	p.expectEvent("pusher_internal:subscription_count")
	p.sendText(`{"event":"client-hi","channel":"private-chat","data":"x"}`)
	got := sink.wait(7)
	time.Sleep(300 * time.Millisecond) // nothing more may come
	raw := sink.rawEvents()
	names := map[string]int{}
	for _, r := range raw {
		name, _ := r["name"].(string)
		names[name]++
		if _, has := r["user_id"]; name == "client_event" && has {
			t.Fatalf("client_event on a private channel carries a user_id: %v", r)
		}
	}
	// occupied ×2 (cache-prices, private-chat), cache_miss ×1 (deduplicated),
	// subscription_count ×2 (cache-prices: 1 then 2; private-chat: 1), client_event ×1.
	if len(raw) != 7 || names["channel_occupied"] != 2 || names["cache_miss"] != 1 || names["client_event"] != 1 || names["subscription_count"] != 3 {
		t.Fatalf("event counts %v, want occupied 2, cache_miss 1, client_event 1, subscription_count 3: %+v", names, got)
	}
	var counts []float64
	for _, r := range raw {
		if r["name"] == "subscription_count" && r["channel"] == "cache-prices" {
			counts = append(counts, r["subscription_count"].(float64))
		}
	}
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 2 {
		t.Fatalf("cache-prices subscription_count values %v, want [1 2]", counts)
	}
}

// Without allow_private_targets a webhook to 127.0.0.1 is refused at dial
// time and counted in /metrics; the sink never hears of it.
func TestWebhooksToPrivateTargetsAreRefused(t *testing.T) {
	sink := newHookSink(t, appHooks)
	s := startServerWithApps(t, fmt.Sprintf(`{"apps":[{"id":%q,"key":%q,"secret":%q,"webhooks":[{"url":%q}]}]}`,
		appHooks.id, appHooks.key, appHooks.secret, sink.srv.URL), nil)
	c := s.connect(t, appHooks.key)
	c.subscribe("refused", nil)
	testkit.Eventually(t, 10*time.Second, "the webhook to 127.0.0.1 to be refused", func() bool { return s.Hooks.Stats().Refused != 0 })
	if v, _ := value(s.scrape(t), "pushi_webhook_dropped_total", map[string]string{"reason": "refused_destination"}); v != 1 {
		t.Fatalf(`pushi_webhook_dropped_total{reason="refused_destination"} = %v, want 1`, v)
	}
	if n := sink.count(); n != 0 {
		t.Fatalf("the sink got %d events", n)
	}
}
