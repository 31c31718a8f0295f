package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// batchKey is one endpoint of one app: batches never mix apps, and each
// endpoint gets only the events its own filters pass.
type batchKey struct {
	app      string
	endpoint int
	url      string
}

// batch collects events for one endpoint until BatchWait or BatchMax.
type batch struct {
	endpoint apps.Webhook
	events   []Event
	timer    *time.Timer
}

// delivery is one request body, kept until it is answered 2xx or given up.
type delivery struct {
	app      string
	url      string
	headers  map[string]string
	body     []byte
	events   int
	first    time.Time // the first attempt, for RetryFor
	attempts int
}

// accepts reports whether endpoint w takes ev (protocol.md §15: its
// event_types, then its channel filter).
func accepts(w *apps.Webhook, ev *Event) bool {
	if len(w.EventTypes) > 0 {
		found := false
		for _, t := range w.EventTypes {
			if t == ev.Name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f := w.Filter; f != nil {
		if f.ChannelNameStartsWith != "" && !strings.HasPrefix(ev.Channel, f.ChannelNameStartsWith) {
			return false
		}
		if f.ChannelNameEndsWith != "" && !strings.HasSuffix(ev.Channel, f.ChannelNameEndsWith) {
			return false
		}
	}
	return true
}

// enqueue adds ev to the batch of every endpoint that accepts it; without
// batching the batch is sealed at once, one event per body.
func (d *Dispatcher) enqueue(app *apps.App, ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for i := range app.Webhooks {
		w := &app.Webhooks[i]
		if !accepts(w, &ev) {
			continue
		}
		k := batchKey{app.ID, i, w.URL}
		b := d.batches[k]
		if b == nil {
			b = &batch{endpoint: *w}
			d.batches[k] = b
			if app.WebhookBatching {
				b.timer = time.AfterFunc(d.opts.BatchWait, func() { d.sealWhenDue(k, b) })
			}
		}
		b.events = append(b.events, ev)
		d.perApp[app.ID]++
		if !app.WebhookBatching || len(b.events) >= d.opts.BatchMax {
			if b.timer != nil {
				b.timer.Stop()
			}
			d.sealLocked(k, b)
		}
		d.boundLocked(app.ID)
	}
}

// sealWhenDue is a batch's BatchWait timer.
func (d *Dispatcher) sealWhenDue(k batchKey, b *batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.batches[k] == b { // not sealed by BatchMax or Close meanwhile
		d.sealLocked(k, b)
	}
}

// sealLocked turns an open batch into a ready body and wakes a sender.
func (d *Dispatcher) sealLocked(k batchKey, b *batch) {
	delete(d.batches, k)
	if len(b.events) == 0 {
		return // every event was dropped by the queue bound
	}
	body, _ := json.Marshal(struct {
		TimeMs int64   `json:"time_ms"`
		Events []Event `json:"events"`
	}{d.opts.Now().UnixMilli(), b.events})
	d.ready = append(d.ready, &delivery{app: k.app, url: b.endpoint.URL, headers: b.endpoint.Headers, body: body, events: len(b.events)})
	d.wakeLocked()
}

// endpointKey identifies the endpoint a body goes to.
func (dl *delivery) endpointKey() string { return dl.app + "\x00" + dl.url }

// boundLocked drops the app's oldest waiting events while it has more
// than QueueMax: the oldest ready body first, else the oldest open batch's
// first event. Counted in QueueDropped.
func (d *Dispatcher) boundLocked(appID string) {
	for d.perApp[appID] > d.opts.QueueMax {
		dropped := false
		for i, dl := range d.ready {
			if dl.app == appID {
				d.ready = append(d.ready[:i], d.ready[i+1:]...)
				d.perApp[appID] -= dl.events
				d.queueDropped.Add(uint64(dl.events))
				dropped = true
				break
			}
		}
		if dropped {
			continue
		}
		for k, b := range d.batches {
			if k.app == appID && len(b.events) > 0 {
				b.events = b.events[1:]
				d.perApp[appID]--
				d.queueDropped.Add(1)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}
