package hub

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
)

// Above this many subscribers, subscription_count frames are coalesced to
// at most one per countInterval per channel, plus a final settled count.
const (
	countCoalesceAbove = 100
	countInterval      = 5 * time.Second
)

type countThrottle struct {
	node *Node
	mu   sync.Mutex
	last map[chanKey]*countState
}

type countState struct {
	sentAt  time.Time
	pending bool
}

func (t *countThrottle) init(n *Node) {
	t.node = n
	t.last = map[chanKey]*countState{}
}

// changed is called after every subscribe or unsubscribe with the new
// cluster-wide count (docs/protocol.md §13).
func (t *countThrottle) changed(app *apps.App, ch protocol.Channel, count int) {
	if !app.SubscriptionCount || ch.Kind == protocol.Presence || ch.Kind == protocol.ServerToUser || count == 0 {
		return
	}
	k := chanKey{app.ID, ch.Name}
	now := time.Now()
	t.lock()
	st := t.last[k]
	if count <= countCoalesceAbove && (st == nil || !st.pending) {
		delete(t.last, k)
		t.unlock()
		t.node.publishCount(app.ID, ch.Name, count)
		return
	}
	if st == nil {
		st = &countState{}
		t.last[k] = st
	}
	if wait := countInterval - now.Sub(st.sentAt); wait > 0 {
		if !st.pending {
			st.pending = true
			time.AfterFunc(wait, func() { t.flush(app, ch.Name) })
		}
		t.unlock()
		return
	}
	st.sentAt = now
	t.unlock()
	t.node.publishCount(app.ID, ch.Name, count)
}

// flush sends the settled count after a coalescing window.
func (t *countThrottle) flush(app *apps.App, channel string) {
	counts, err := t.node.state.Channel(context.Background(), app.ID, channel)
	t.lock()
	k := chanKey{app.ID, channel}
	if st := t.last[k]; st != nil {
		st.pending = false
		st.sentAt = time.Now()
		if err == nil && counts.Subscriptions <= countCoalesceAbove {
			delete(t.last, k) // back to immediate frames; forget the window
		}
	}
	t.unlock()
	if err == nil && counts.Subscriptions > 0 {
		t.node.publishCount(app.ID, channel, counts.Subscriptions)
	}
}

func (n *Node) publishCount(app, channel string, count int) {
	if a := n.apps.ByID(app); a != nil {
		n.hook(a, WebhookEvent{Name: "subscription_count", Channel: channel, SubscriptionCount: &count})
	}
	data := `{"subscription_count":` + strconv.Itoa(count) + `}`
	payload := protocol.EncodeEvent(&protocol.Event{Name: "pusher_internal:subscription_count", Channel: channel, Data: data})
	if err := n.broker.Publish(context.Background(), &broker.Publication{App: app, Channel: channel, Payload: payload}); err != nil {
		n.log.Error("subscription count publish failed", "app", app, "err", err)
	}
}

func itoa(v int) string { return strconv.Itoa(v) }

func (t *countThrottle) lock()   { t.mu.Lock(); lockTaken() }
func (t *countThrottle) unlock() { lockReleased(); t.mu.Unlock() }
