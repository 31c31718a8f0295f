package webhook

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/testkit"
)

// TestEmitNeverWaitsForTheDispatcher: with the dispatcher's mutex held
// (as a storm of due events used to hold it), Emit still returns at once;
// what the hand-off cannot hold is dropped and counted, the rest is sent.
func TestEmitNeverWaitsForTheDispatcher(t *testing.T) {
	e := newEndpoint(t)
	opts := fastOptions()
	opts.Handoff = 4
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.mu.Lock()
	d.Emit(app, Event{Name: "cache_miss", Channel: "c0"})
	testkit.Eventually(t, 5*time.Second, "the intake to take the first event", func() bool { return len(d.in) == 0 })
	start := time.Now()
	for i := 1; i < 10; i++ {
		d.Emit(app, Event{Name: "cache_miss", Channel: fmt.Sprint("c", i)})
	}
	took := time.Since(start)
	full := d.Stats().HandoffFull
	d.mu.Unlock()
	if took > time.Second {
		t.Fatalf("9 Emits took %v with the mutex held", took)
	}
	if full != 5 {
		t.Fatalf("HandoffFull %d, want 5 (1 taken, 4 waiting, 5 dropped)", full)
	}
	testkit.Eventually(t, 5*time.Second, "the 5 kept", func() bool { return len(e.events()) == 5 })
	if got := names(e.events()); !slices.Equal(got, []string{"cache_miss:c0:", "cache_miss:c1:", "cache_miss:c2:", "cache_miss:c3:", "cache_miss:c4:"}) {
		t.Fatalf("sent %v", got)
	}
}

// TestDelayMaxReleasesTheOldestEarly: an app over DelayMax has its oldest
// delayed events sent at once (not dropped), a channel's member_removed
// before its channel_vacated; the rest wait, and Close sends them.
func TestDelayMaxReleasesTheOldestEarly(t *testing.T) {
	e := newEndpoint(t)
	opts := fastOptions()
	opts.Delay, opts.DelayMax = time.Hour, 3
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	app := reg.ByID("1")
	d.Emit(app, Event{Name: "member_removed", Channel: "presence-a", UserID: "u"})
	d.Emit(app, Event{Name: "channel_vacated", Channel: "b"})
	d.Emit(app, Event{Name: "channel_vacated", Channel: "presence-a"})
	d.Emit(app, Event{Name: "channel_vacated", Channel: "c"}) // 4 > 3: member_removed presence-a goes
	d.Emit(app, Event{Name: "channel_vacated", Channel: "d"}) // then b
	testkit.Eventually(t, 5*time.Second, "two early events", func() bool { return len(e.events()) == 2 })
	time.Sleep(100 * time.Millisecond)
	if got := names(e.events()); !slices.Equal(got, []string{"member_removed:presence-a:u", "channel_vacated:b:"}) {
		t.Fatalf("sent early %v, want the two oldest", got)
	}
	d.Emit(app, Event{Name: "channel_occupied", Channel: "c"}) // still cancels a pending one
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := names(e.events()); !slices.Equal(got[2:], []string{"channel_vacated:presence-a:", "channel_vacated:d:"}) {
		t.Fatalf("after Close %v", got)
	}
}

// TestFlappingKeepsTheDelaysSmall: a channel left and re-joined in a loop,
// under fresh names too, leaves no index entry behind and the FIFOs
// bounded, however many times it happens within one delay.
func TestFlappingKeepsTheDelaysSmall(t *testing.T) {
	a := testApp()
	q := newDelays(50000)
	due := time.Now().Add(time.Hour)
	for i := range 200000 {
		ch := fmt.Sprint("c", i%3)
		if i%2 == 0 {
			ch = fmt.Sprint("fresh-", i)
		}
		if early := q.hold(&a, Event{Name: "channel_vacated", Channel: ch}, due); len(early) != 0 {
			t.Fatal("released early below DelayMax")
		}
		q.hold(&a, Event{Name: "member_removed", Channel: ch, UserID: "u"}, due)
		if !q.cancel(&a, Event{Name: "channel_occupied", Channel: ch}) || !q.cancel(&a, Event{Name: "member_added", Channel: ch, UserID: "u"}) {
			t.Fatalf("flap %d not cancelled", i)
		}
	}
	if q.live != 0 || len(q.byChan) != 0 || len(q.byApp) != 0 || q.order.len() > 1024 {
		t.Fatalf("live %d, index %d channels %d apps, FIFO %d", q.live, len(q.byChan), len(q.byApp), q.order.len())
	}
	// With entries that stay, dead ones are still compacted away.
	for i := range 100000 {
		q.hold(&a, Event{Name: "channel_vacated", Channel: fmt.Sprint("stay-", i%10)}, due) // replaces
	}
	if q.live != 10 || q.order.len() > 2*10+1024+1 || q.byApp["1"].order.len() > 2*10+64+1 {
		t.Fatalf("live %d, FIFO %d, app FIFO %d", q.live, q.order.len(), q.byApp["1"].order.len())
	}
	if got := q.due(due, 100, nil); len(got) != 10 {
		t.Fatalf("%d due, want 10", len(got))
	}
}

// TestDueIsReleasedInChunks: a storm coming due is released dueChunk at a
// time, oldest first.
func TestDueIsReleasedInChunks(t *testing.T) {
	a := testApp()
	q := newDelays(1 << 20)
	start := time.Now()
	for i := range 3 * dueChunk {
		q.hold(&a, Event{Name: "channel_vacated", Channel: fmt.Sprint("c", i)}, start.Add(time.Duration(i)))
	}
	got := q.due(start.Add(time.Hour), dueChunk, nil)
	if len(got) != dueChunk || got[0].ev.Channel != "c0" || got[dueChunk-1].ev.Channel != fmt.Sprint("c", dueChunk-1) {
		t.Fatalf("first chunk: %d entries", len(got))
	}
	if at, ok := q.next(); !ok || !at.Equal(start.Add(dueChunk)) {
		t.Fatalf("next %v %v", at, ok)
	}
	if got := q.due(start.Add(dueChunk), 10*dueChunk, nil); len(got) != 1 {
		t.Fatalf("%d due at the chunk's end, want 1", len(got))
	}
}
