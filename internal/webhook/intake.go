package webhook

import (
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// handoff is one Emit on its way to the intake goroutine.
type handoff struct {
	app *apps.App
	ev  Event
}

// dueChunk bounds the delayed events released per timer wake-up, so that
// a storm coming due (tens of thousands at once) is interleaved with new
// Emits rather than holding them back until it is all queued.
const dueChunk = 512

// intake takes handed-over events in order: delays them, cancels pairs,
// queues the rest, and releases the delayed ones when due, on one timer
// armed for the oldest. It exits on Close once the hand-off is empty and
// every delayed event is queued.
func (d *Dispatcher) intake() {
	defer close(d.intakeDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	var batch []*pendingHook
	var lastWarned time.Time
	var warnedAt uint64
	for {
		select {
		case h := <-d.in:
			d.take(h)
		case <-timer.C:
			armed = false
			batch = d.delays.due(time.Now(), dueChunk, batch[:0])
			d.queuePending(batch)
			clear(batch)
		case <-d.quit:
			for {
				select {
				case h := <-d.in:
					d.take(h)
					continue
				default:
				}
				break
			}
			d.queuePending(d.delays.all())
			timer.Stop()
			return
		}
		if !armed {
			// A cancelled head leaves the timer early, never late: it
			// then finds nothing due and is armed again.
			if at, ok := d.delays.next(); ok {
				timer.Reset(time.Until(at))
				armed = true
			}
		}
		if n := d.handoffFull.Load(); n != warnedAt && time.Since(lastWarned) >= time.Minute {
			d.log.Warn("webhook hand-off full: events dropped", "dropped_total", n)
			lastWarned, warnedAt = time.Now(), n
		}
	}
}

// take applies docs/protocol.md §15's delay rules to one event.
func (d *Dispatcher) take(h handoff) {
	switch h.ev.Name {
	case "channel_vacated", "member_removed":
		d.queuePending(d.delays.hold(h.app, h.ev, time.Now().Add(d.opts.Delay)))
	case "channel_occupied", "member_added":
		if d.delays.cancel(h.app, h.ev) {
			return // left and came back within the delay: nothing happened
		}
		d.enqueue(h.app, h.ev)
	default:
		d.enqueue(h.app, h.ev)
	}
}

// queuePending queues released delayed events under one lock.
func (d *Dispatcher) queuePending(ps []*pendingHook) {
	if len(ps) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range ps {
		d.enqueueLocked(p.app, p.ev)
	}
}
