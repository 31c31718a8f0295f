package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// appQueue is everything one app has waiting, bounded by QueueMax events:
// open batches, ready bodies and bodies waiting for a retry all count, so
// a dead endpoint cannot grow memory without limit (bodies in flight, at
// most one per endpoint, do not). It is removed from Dispatcher.apps when
// it holds nothing and has nothing in flight.
type appQueue struct {
	id        string
	events    int // waiting: in open batches, ready, or waiting for a retry
	inflight  int // bodies
	endpoints map[endpointKey]*endpointQueue
	retrying  fifo[waitEntry]      // bodies waiting for a retry, in the order they failed
	runnable  fifo[*endpointQueue] // endpoints with a ready body a sender may take
	queued    bool                 // in Dispatcher.runnable
}

// endpointKey is one configured endpoint of an app: batches never mix
// apps, and each endpoint gets only the events its own filters pass.
type endpointKey struct {
	index int // in the app's Webhooks when the event was raised
	url   string
}

// endpointQueue is one endpoint's open batch and ready bodies. One request
// at a time per endpoint keeps first attempts in the order the events were
// raised (member_removed before channel_vacated) and spares the receiver.
type endpointQueue struct {
	app   *appQueue
	key   endpointKey
	host  string // for Options.PerHost
	open  *batch
	ready fifo[*delivery]
	// At most one of these holds: a request is in flight, the endpoint
	// is backed off after a timeout, it is in its app's runnable list, or
	// it waits for a free slot of its host.
	busy, cooling, queued, hostWaiting bool
	timeouts                           int // consecutive attempts that timed out
	coolTimer                          *time.Timer
}

// batch collects events for one endpoint until BatchWait or BatchMax.
type batch struct {
	seq    uint64 // orders batches and bodies by age for the queue bound
	events []Event
	timer  *time.Timer
}

type deliveryState uint8

const (
	stateReady deliveryState = iota
	stateInFlight
	stateWaiting // for a retry
	stateDone
)

// delivery is one request body, kept until it is answered 2xx or given up.
type delivery struct {
	ep       *endpointQueue
	seq      uint64
	body     []byte
	events   int
	state    deliveryState
	first    time.Time // the first attempt, for RetryFor
	attempts int
	timer    *time.Timer // the retry
}

// waitEntry is a body in appQueue.retrying; it is stale once the body has
// moved on (retried, or waiting again after a later attempt).
type waitEntry struct {
	dl       *delivery
	attempts int
}

func (w waitEntry) live() bool { return w.dl.state == stateWaiting && w.dl.attempts == w.attempts }

// fifo is a queue, oldest first.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }

func (q *fifo[T]) peek() (v T, ok bool) {
	if q.len() == 0 {
		return v, false
	}
	return q.items[q.head], true
}

func (q *fifo[T]) pop() (v T, ok bool) {
	if q.len() == 0 {
		return v, false
	}
	var zero T
	v, q.items[q.head] = q.items[q.head], zero
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 64 && q.head*2 >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return v, true
}

// filter keeps the items keep accepts, in order, and frees the others.
func (q *fifo[T]) filter(keep func(T) bool) {
	n := 0
	for _, v := range q.items[q.head:] {
		if keep(v) {
			q.items[n] = v // n never passes the index read
			n++
		}
	}
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
}

// accepts reports whether endpoint w takes ev (docs/protocol.md §15: its
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

// enqueue adds ev to the batch of every endpoint of app that accepts it;
// without batching the batch is sealed at once, one event per body.
func (d *Dispatcher) enqueue(app *apps.App, ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enqueueLocked(app, ev)
}

func (d *Dispatcher) enqueueLocked(app *apps.App, ev Event) {
	if d.closed {
		return
	}
	var aq *appQueue
	for i := range app.Webhooks {
		w := &app.Webhooks[i]
		if !accepts(w, &ev) {
			continue
		}
		if aq == nil {
			aq = d.appLocked(app.ID)
		}
		k := endpointKey{i, w.URL}
		ep := aq.endpoints[k]
		if ep == nil {
			ep = &endpointQueue{app: aq, key: k, host: hostKey(w.URL)}
			aq.endpoints[k] = ep
		}
		b := ep.open
		if b == nil {
			d.seq++
			b = &batch{seq: d.seq}
			ep.open = b
			if app.WebhookBatching {
				b.timer = time.AfterFunc(d.opts.BatchWait, func() { d.sealWhenDue(ep, b) })
			}
		}
		b.events = append(b.events, ev)
		aq.events++
		if !app.WebhookBatching || len(b.events) >= d.opts.BatchMax {
			d.sealLocked(ep)
		}
		d.boundLocked(aq)
	}
}

// appLocked returns the app's queue, creating it.
func (d *Dispatcher) appLocked(id string) *appQueue {
	aq := d.apps[id]
	if aq == nil {
		aq = &appQueue{id: id, endpoints: map[endpointKey]*endpointQueue{}}
		d.apps[id] = aq
	}
	return aq
}

// releaseLocked takes n events off the app's count and forgets an app
// that holds nothing any more.
func (d *Dispatcher) releaseLocked(aq *appQueue, n int) {
	aq.events -= n
	if aq.events <= 0 && aq.inflight == 0 && d.apps[aq.id] == aq {
		delete(d.apps, aq.id)
	}
}

// sealWhenDue is a batch's BatchWait timer.
func (d *Dispatcher) sealWhenDue(ep *endpointQueue, b *batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ep.open == b { // not sealed by BatchMax, the bound or Close meanwhile
		d.sealLocked(ep)
	}
}

// sealLocked turns the endpoint's open batch into a ready body.
func (d *Dispatcher) sealLocked(ep *endpointQueue) {
	b := ep.open
	ep.open = nil
	if b.timer != nil {
		b.timer.Stop()
	}
	if len(b.events) == 0 {
		return
	}
	body, err := json.Marshal(struct {
		TimeMs int64   `json:"time_ms"`
		Events []Event `json:"events"`
	}{d.opts.Now().UnixMilli(), b.events})
	if err != nil { // cannot happen: Event is strings and an int
		d.log.Error("webhook body", "app", ep.app.id, "err", err)
		d.releaseLocked(ep.app, len(b.events))
		return
	}
	d.readyLocked(&delivery{ep: ep, seq: b.seq, body: body, events: len(b.events)})
}

// readyLocked queues dl for an attempt and wakes a sender when its
// endpoint is free.
func (d *Dispatcher) readyLocked(dl *delivery) {
	dl.state = stateReady
	dl.ep.ready.push(dl)
	d.scheduleLocked(dl.ep)
}

// boundLocked drops the app's oldest events while it holds more than
// QueueMax: bodies waiting for a retry first (they failed already and are
// the oldest), then the oldest ready body, then the oldest open batch's
// first event. Bodies in flight stay. Counted in QueueDropped.
func (d *Dispatcher) boundLocked(aq *appQueue) {
	for aq.events > d.opts.QueueMax {
		if dl := aq.popWaiting(); dl != nil {
			dl.timer.Stop()
			d.queueDropped.Add(uint64(dl.events))
			d.doneLocked(dl)
			continue
		}
		var oldest, batched *endpointQueue
		var oldestSeq, batchedSeq uint64
		for _, ep := range aq.endpoints {
			if h, ok := ep.ready.peek(); ok && (oldest == nil || h.seq < oldestSeq) {
				oldest, oldestSeq = ep, h.seq
			}
			if b := ep.open; b != nil && len(b.events) > 0 && (batched == nil || b.seq < batchedSeq) {
				batched, batchedSeq = ep, b.seq
			}
		}
		switch {
		case oldest != nil && (batched == nil || oldestSeq < batchedSeq):
			dl, _ := oldest.ready.pop() // a runnable entry left empty is skipped by next
			d.queueDropped.Add(uint64(dl.events))
			d.doneLocked(dl)
		case batched != nil:
			b := batched.open
			b.events[0] = Event{}
			b.events = b.events[1:]
			d.queueDropped.Add(1)
			if len(b.events) == 0 {
				if b.timer != nil {
					b.timer.Stop()
				}
				batched.open = nil
			}
			d.releaseLocked(aq, 1)
		default:
			return // only bodies in flight
		}
	}
}

// popWaiting takes the app's oldest body waiting for a retry, or nil.
func (aq *appQueue) popWaiting() *delivery {
	for {
		w, ok := aq.retrying.pop()
		if !ok {
			return nil
		}
		if w.live() {
			return w.dl
		}
	}
}

// doneLocked gives up dl, ready or waiting for a retry.
func (d *Dispatcher) doneLocked(dl *delivery) {
	dl.state = stateDone
	d.releaseLocked(dl.ep.app, dl.events)
}
