package webhook

import (
	"net/url"
	"strings"
	"time"
)

// Scheduling. Senders are shared by every app, so one app's hanging
// endpoints must not hold them all (issue 10: with 4 senders shared by
// all apps, one app's hanging endpoints delayed another app's webhooks by
// 8 s at the median). So:
//   - apps take turns: Dispatcher.runnable is a round-robin of apps, each
//     with its own list of runnable endpoints, and a sender takes one body
//     from the app at the head, which then goes to the back;
//   - an app has at most PerApp requests in flight and a host (an URL's
//     host:port, shared by all apps) at most PerHost, both below Senders,
//     so hanging endpoints leave senders to everyone else;
//   - connect and first-byte timeouts are short (ConnectTimeout,
//     HeaderTimeout) and an endpoint whose attempt timed out is backed off
//     (RetryFirst doubling to RetryMax) before any of its bodies is tried
//     again, instead of costing a sender a full timeout per queued body.

// hostSlots counts one host's requests in flight and the endpoints
// waiting for one of its slots.
type hostSlots struct {
	busy    int
	waiting fifo[*endpointQueue]
}

// hostKey is the scheduling key of an endpoint URL: its host and port.
func hostKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Host)
}

// scheduleLocked makes ep runnable if it has a ready body and nothing
// holds it back.
func (d *Dispatcher) scheduleLocked(ep *endpointQueue) {
	if ep.busy || ep.cooling || ep.queued || ep.hostWaiting || ep.ready.len() == 0 {
		return
	}
	ep.queued = true
	ep.app.runnable.push(ep)
	d.queueAppLocked(ep.app)
}

// queueAppLocked puts aq in the round-robin if it has a runnable endpoint
// and a free slot.
func (d *Dispatcher) queueAppLocked(aq *appQueue) {
	if aq.queued || aq.runnable.len() == 0 || aq.inflight >= d.opts.PerApp {
		return
	}
	aq.queued = true
	d.runnable.push(aq)
	d.wakeLocked()
}

// next takes a ready body for a sender: from the app whose turn it is,
// its first runnable endpoint whose host has a free slot. The endpoint is
// busy until finishLocked.
func (d *Dispatcher) next() *delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		aq, ok := d.runnable.pop()
		if !ok {
			return nil
		}
		aq.queued = false
		dl := d.takeLocked(aq)
		if dl == nil {
			continue
		}
		d.queueAppLocked(aq) // to the back of the round-robin
		if d.runnable.len() > 0 {
			d.wakeLocked() // more work: pass the wake-up on to another sender
		}
		return dl
	}
}

func (d *Dispatcher) takeLocked(aq *appQueue) *delivery {
	for aq.inflight < d.opts.PerApp {
		ep, ok := aq.runnable.pop()
		if !ok {
			return nil
		}
		ep.queued = false
		if ep.busy || ep.cooling || ep.ready.len() == 0 {
			continue // emptied by the queue bound or Close
		}
		hs := d.hosts[ep.host]
		if hs == nil {
			hs = &hostSlots{}
			d.hosts[ep.host] = hs
		}
		if hs.busy >= d.opts.PerHost {
			ep.hostWaiting = true
			hs.waiting.push(ep)
			continue
		}
		dl, _ := ep.ready.pop()
		ep.busy = true
		hs.busy++
		aq.inflight++
		dl.state = stateInFlight
		d.releaseLocked(aq, dl.events)
		return dl
	}
	return nil
}

// finishLocked ends ep's request: it frees the app's and the host's
// slots, and backs ep off if the attempt timed out.
func (d *Dispatcher) finishLocked(ep *endpointQueue, timedOut bool) {
	aq := ep.app
	ep.busy = false
	aq.inflight--
	if hs := d.hosts[ep.host]; hs != nil {
		hs.busy--
		// Every waiter gets another look: one that cannot take the slot
		// now (its app is at PerApp) must not keep the others waiting.
		for w, ok := hs.waiting.pop(); ok; w, ok = hs.waiting.pop() {
			w.hostWaiting = false
			d.scheduleLocked(w)
		}
		if hs.busy == 0 && hs.waiting.len() == 0 {
			delete(d.hosts, ep.host)
		}
	}
	switch {
	case !timedOut:
		ep.timeouts = 0
		d.scheduleLocked(ep)
	case d.closed:
		ep.cooling = true // Close drops its bodies rather than wait for it
	default:
		// Backed off, not tried again at once with its next body.
		ep.timeouts++
		ep.cooling = true
		ep.coolTimer = time.AfterFunc(backoff(d.opts.RetryFirst, d.opts.RetryMax, ep.timeouts), func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			ep.cooling = false
			if !d.closed {
				d.scheduleLocked(ep)
			}
		})
	}
	d.queueAppLocked(aq)
}

// dropCoolingLocked drops, at Close, the bodies of endpoints backed off
// after a timeout: they are not attempted again.
func (d *Dispatcher) dropCoolingLocked() {
	for _, aq := range d.apps {
		for _, ep := range aq.endpoints {
			if !ep.cooling {
				continue
			}
			if ep.coolTimer != nil {
				ep.coolTimer.Stop()
			}
			for dl, ok := ep.ready.pop(); ok; dl, ok = ep.ready.pop() {
				d.dropped.Add(1)
				d.doneLocked(dl)
			}
		}
	}
}

func (d *Dispatcher) wakeLocked() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
