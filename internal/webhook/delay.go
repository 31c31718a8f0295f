package webhook

import (
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// delayKey names what a delayed event is about: a channel, or a user in a
// presence channel.
type delayKey struct {
	app, channel, user string
	member             bool
}

func keyOf(app *apps.App, ev Event) delayKey {
	member := ev.Name == "member_added" || ev.Name == "member_removed"
	k := delayKey{app: app.ID, channel: ev.Channel, member: member}
	if member {
		k.user = ev.UserID
	}
	return k
}

// pendingHook is a channel_vacated or member_removed in its delay.
type pendingHook struct {
	app   *apps.App
	ev    Event
	timer *time.Timer
}

// delay holds ev for Delay, then sends it unless cancelDelayed ran first.
func (d *Dispatcher) delay(app *apps.App, ev Event) {
	k := keyOf(app, ev)
	p := &pendingHook{app: app, ev: ev}
	d.mu.Lock()
	if d.closing {
		// Close is flushing: no timer now, the event goes out with the rest
		// (or is ignored once closed).
		d.mu.Unlock()
		d.enqueue(app, ev)
		return
	}
	defer d.mu.Unlock()
	if old := d.delayed[k]; old != nil {
		old.timer.Stop() // vacated twice without occupied between: one is enough
	}
	d.delayed[k] = p
	p.timer = time.AfterFunc(d.opts.Delay, func() {
		d.mu.Lock()
		if d.delayed[k] != p {
			d.mu.Unlock()
			return // cancelled or replaced
		}
		delete(d.delayed, k)
		// A channel's last member_removed goes out before its
		// channel_vacated, as they were raised; their timers may fire in
		// either order.
		var first []*pendingHook
		if !k.member {
			for mk, mp := range d.delayed {
				if mk.member && mk.app == k.app && mk.channel == k.channel {
					mp.timer.Stop()
					delete(d.delayed, mk)
					first = append(first, mp)
				}
			}
		}
		d.mu.Unlock()
		for _, mp := range first {
			d.enqueue(mp.app, mp.ev)
		}
		d.enqueue(p.app, p.ev)
	})
}

// cancelDelayed drops the pending opposite of an occupied or added event
// and reports whether there was one: then neither is sent.
func (d *Dispatcher) cancelDelayed(app *apps.App, ev Event) bool {
	k := keyOf(app, ev)
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.delayed[k]
	if p == nil {
		return false
	}
	delete(d.delayed, k)
	// Stop may lose to a timer that already fired; its callback sees the
	// entry gone and sends nothing, so the pair still cancels out.
	p.timer.Stop()
	return true
}
