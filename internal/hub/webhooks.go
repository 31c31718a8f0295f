package hub

import (
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
)

// WebhookEvent is one protocol webhook event the node raises
// (docs/protocol.md §15): channel_occupied, channel_vacated, member_added,
// member_removed, client_event, cache_miss, subscription_count. The hub
// defines it; the webhook dispatcher, outside, delivers it.
type WebhookEvent struct {
	Name              string
	Channel           string
	UserID            string
	Event             string // client_event
	Data              string // client_event
	SocketID          string // client_event
	SubscriptionCount *int
}

// Webhooks receives the webhook events. Emit must not block and must not
// call back into the hub: it is called under a connection's lock (never a
// shared one, docs/architecture.md).
type Webhooks interface {
	Emit(app *apps.App, ev WebhookEvent)
}

// hook raises ev when the app has an endpoint; the check is a length test,
// so apps without webhooks pay nothing more.
func (n *Node) hook(app *apps.App, ev WebhookEvent) {
	if n.opts.Webhooks != nil && len(app.Webhooks) > 0 {
		n.opts.Webhooks.Emit(app, ev)
	}
}

// channelHooks reports whether a channel raises channel webhooks:
// server-to-user channels do not (docs/protocol.md §15).
func channelHooks(ch protocol.Channel) bool { return ch.Kind != protocol.ServerToUser }

// cacheMissWindow is how long a cache_miss webhook is not repeated for a
// channel with nothing cached since (docs/protocol.md §10).
const cacheMissWindow = 60 * time.Second

// cacheMisses deduplicates cache_miss webhooks per channel.
type cacheMisses struct {
	mu    sync.Mutex
	sent  map[chanKey]time.Time
	swept time.Time
}

// first reports whether a miss on k should raise a webhook now, and
// records it. Entries older than the window are swept once per window,
// so channels that are never cached do not accumulate.
func (m *cacheMisses) first(k chanKey, now time.Time) bool {
	m.mu.Lock()
	lockTaken()
	defer func() { lockReleased(); m.mu.Unlock() }()
	if m.sent == nil {
		m.sent = map[chanKey]time.Time{}
	}
	if now.Sub(m.swept) > cacheMissWindow {
		for key, at := range m.sent {
			if now.Sub(at) > cacheMissWindow {
				delete(m.sent, key)
			}
		}
		m.swept = now
	}
	if at, ok := m.sent[k]; ok && now.Sub(at) <= cacheMissWindow {
		return false
	}
	m.sent[k] = now
	return true
}

// cached forgets k: something was cached, so the next miss is news.
func (m *cacheMisses) cached(k chanKey) {
	m.mu.Lock()
	lockTaken()
	delete(m.sent, k)
	lockReleased()
	m.mu.Unlock()
}
