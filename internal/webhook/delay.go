package webhook

import (
	"slices"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// The delays of docs/protocol.md §15: channel_vacated and member_removed wait
// Delay, and a channel_occupied (member_added) within it cancels both.
//
// They are owned by the intake goroutine alone, so they take no lock. A
// drop of many sockets at once (issue 10: 50 sockets × 1 000 channels)
// used to start one timer per pending event, each scanning every pending
// entry under the dispatcher's mutex when it fired: quadratic work and
// one goroutine per entry (200 000 channels: minutes of stalled
// subscribes, 135 000 goroutines). Here every entry is indexed by app and
// channel, and since every entry waits the same Delay, one FIFO is also
// the deadline order: the intake goroutine runs one timer for the head.

// chanKey is one channel of one app.
type chanKey struct{ app, channel string }

// pendingHook is a channel_vacated or member_removed in its delay.
type pendingHook struct {
	app  *apps.App
	ev   Event
	due  time.Time
	live bool // false once sent, cancelled or replaced: queues skip it
}

// chanDelays is what one channel has pending.
type chanDelays struct {
	vacated *pendingHook
	removed map[string]*pendingHook // member_removed by user id
}

// appDelays is one app's pending entries, oldest first, for DelayMax.
type appDelays struct {
	live  int
	order fifo[*pendingHook]
}

// delays holds every pending entry.
type delays struct {
	max    int // live entries per app (Options.DelayMax)
	byChan map[chanKey]*chanDelays
	byApp  map[string]*appDelays
	order  fifo[*pendingHook] // all apps, by due time
	live   int
}

func newDelays(max int) *delays {
	return &delays{max: max, byChan: map[chanKey]*chanDelays{}, byApp: map[string]*appDelays{}}
}

func isMemberEvent(name string) bool { return name == "member_added" || name == "member_removed" }

// hold starts ev's delay. An app over DelayMax has its oldest entries
// released early, returned to be sent now: early rather than dropped, so
// that the backend's view stays consistent (a later channel_occupied
// follows a channel_vacated it has seen), at the cost of showing a flap
// the delay would have hidden.
func (q *delays) hold(app *apps.App, ev Event, due time.Time) []*pendingHook {
	k := chanKey{app.ID, ev.Channel}
	cd := q.byChan[k]
	if cd == nil {
		cd = &chanDelays{}
		q.byChan[k] = cd
	}
	p := &pendingHook{app: app, ev: ev, due: due, live: true}
	if isMemberEvent(ev.Name) {
		if old := cd.removed[ev.UserID]; old != nil {
			q.kill(old) // removed twice without added between: one is enough
		}
		if cd.removed == nil {
			cd.removed = map[string]*pendingHook{}
		}
		cd.removed[ev.UserID] = p
	} else {
		if cd.vacated != nil {
			q.kill(cd.vacated)
		}
		cd.vacated = p
	}
	// kill may have dropped the channel's entry when it emptied it.
	q.byChan[k] = cd
	ad := q.byApp[app.ID]
	if ad == nil {
		ad = &appDelays{}
		q.byApp[app.ID] = ad
	}
	ad.live++
	ad.order.push(p)
	q.live++
	q.order.push(p)
	var early []*pendingHook
	for ad.live > q.max {
		oldest := popLive(&ad.order)
		early = q.release(oldest, early)
	}
	return early
}

// cancel drops the pending opposite of a channel_occupied or member_added
// and reports whether there was one: then neither is sent.
func (q *delays) cancel(app *apps.App, ev Event) bool {
	cd := q.byChan[chanKey{app.ID, ev.Channel}]
	if cd == nil {
		return false
	}
	var p *pendingHook
	if isMemberEvent(ev.Name) {
		p = cd.removed[ev.UserID]
	} else {
		p = cd.vacated
	}
	if p == nil {
		return false
	}
	q.kill(p)
	return true
}

// due appends to out the entries whose delay has ended by now, at most
// limit of them (plus the member_removed released with a vacated), in the
// order they must be sent.
func (q *delays) due(now time.Time, limit int, out []*pendingHook) []*pendingHook {
	for n := 0; n < limit; n++ {
		p, ok := q.order.peek()
		for ok && !p.live {
			q.order.pop()
			p, ok = q.order.peek()
		}
		if !ok || p.due.After(now) {
			break
		}
		q.order.pop()
		out = q.release(p, out)
	}
	return out
}

// next is the deadline of the oldest live entry.
func (q *delays) next() (time.Time, bool) {
	for {
		p, ok := q.order.peek()
		if !ok {
			return time.Time{}, false
		}
		if p.live {
			return p.due, true
		}
		q.order.pop()
	}
}

// all releases every pending entry, oldest first (Close).
func (q *delays) all() []*pendingHook {
	var out []*pendingHook
	for p, ok := q.order.pop(); ok; p, ok = q.order.pop() {
		if p.live {
			out = q.release(p, out)
		}
	}
	return out
}

// release takes p out of the delays and appends it to out to be sent. A
// channel's member_removed go out before its channel_vacated, as the hub
// raised them.
func (q *delays) release(p *pendingHook, out []*pendingHook) []*pendingHook {
	if !isMemberEvent(p.ev.Name) {
		if cd := q.byChan[chanKey{p.app.ID, p.ev.Channel}]; cd != nil && len(cd.removed) > 0 {
			first := make([]*pendingHook, 0, len(cd.removed))
			for _, m := range cd.removed {
				first = append(first, m)
			}
			slices.SortStableFunc(first, func(a, b *pendingHook) int { return a.due.Compare(b.due) })
			for _, m := range first {
				q.kill(m)
				out = append(out, m)
			}
		}
	}
	q.kill(p)
	return append(out, p)
}

// kill takes p out of the index; the FIFOs skip it, and are compacted
// when dead entries outnumber the live ones (a channel left and re-joined
// in a loop would otherwise grow them for Delay at its own rate).
func (q *delays) kill(p *pendingHook) {
	if !p.live {
		return
	}
	p.live = false
	k := chanKey{p.app.ID, p.ev.Channel}
	if cd := q.byChan[k]; cd != nil {
		if isMemberEvent(p.ev.Name) {
			if cd.removed[p.ev.UserID] == p {
				delete(cd.removed, p.ev.UserID)
			}
		} else if cd.vacated == p {
			cd.vacated = nil
		}
		if cd.vacated == nil && len(cd.removed) == 0 {
			delete(q.byChan, k)
		}
	}
	q.live--
	if q.live == 0 {
		q.order = fifo[*pendingHook]{}
	} else if q.order.len() > 2*q.live+1024 {
		q.order.filter(isLive)
	}
	if ad := q.byApp[p.app.ID]; ad != nil {
		ad.live--
		if ad.live == 0 {
			delete(q.byApp, p.app.ID)
		} else if ad.order.len() > 2*ad.live+64 {
			ad.order.filter(isLive)
		}
	}
}

func isLive(p *pendingHook) bool { return p.live }

// popLive pops the oldest live entry of a FIFO that holds one.
func popLive(f *fifo[*pendingHook]) *pendingHook {
	for {
		p, _ := f.pop()
		if p.live {
			return p
		}
	}
}
