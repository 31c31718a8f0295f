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

// TestHangingEndpointsDoNotDelayOtherApps is issue 10's finding 4: app A
// has 8 endpoints (4 servers, 2 paths each) that never answer, and a
// backlog for each; app B's webhooks must still arrive within 1 s. Before
// the fix, A's hanging requests held every shared sender for the full
// 10 s timeout and B waited behind them.
func TestHangingEndpointsDoNotDelayOtherApps(t *testing.T) {
	var hooksA []apps.Webhook
	var hanging []*endpoint
	for range 4 {
		e := newEndpoint(t)
		e.block = make(chan struct{}) // never released: requests end when cancelled
		hanging = append(hanging, e)
		hooksA = append(hooksA, apps.Webhook{URL: e.srv.URL + "/a"}, apps.Webhook{URL: e.srv.URL + "/b"})
	}
	a := testApp(hooksA...)
	fast := newEndpoint(t)
	b := testApp(apps.Webhook{URL: fast.srv.URL})
	b.ID, b.Key, b.Secret = "2", "key-2", "secret-2"
	d, reg := newDispatcher(t, fastOptions(), a, b) // default timeouts and sender counts
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		d.Close(ctx) // cancels A's hanging requests
	}()
	for i := range 5 {
		d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: fmt.Sprint("a", i)})
	}
	testkit.Eventually(t, 5*time.Second, "A's requests hanging", func() bool {
		n := 0
		for _, e := range hanging {
			n += len(e.tries())
		}
		return n >= 4
	})
	var worst time.Duration
	for i := range 5 {
		start := time.Now()
		d.Emit(reg.ByID("2"), Event{Name: "cache_miss", Channel: fmt.Sprint("b", i)})
		testkit.Eventually(t, 30*time.Second, fmt.Sprint("B's event ", i, " while A's endpoints hang"), func() bool { return len(fast.events()) > i })
		// Timed by the endpoint's arrival stamp, not by the poll that saw
		// it: the bound is on delivery.
		bodies := fast.got()
		took := bodies[len(bodies)-1].at.Sub(start)
		worst = max(worst, took)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("B's slowest webhook: %v", worst)
	if worst > time.Second {
		t.Fatalf("B's webhook took %v while A's endpoints hang, want ≤ 1 s", worst)
	}
}

// TestTimedOutEndpointIsBackedOff: an endpoint whose first byte does not
// come within HeaderTimeout is not tried again with its next body at
// once: it waits RetryFirst (doubling) first, so a hanging endpoint with a
// backlog costs a sender one timeout per backoff, not one per body.
func TestTimedOutEndpointIsBackedOff(t *testing.T) {
	e := newEndpoint(t)
	e.block = make(chan struct{})
	opts := fastOptions()
	opts.HeaderTimeout, opts.RetryFirst, opts.RetryMax, opts.RetryFor = 50*time.Millisecond, 400*time.Millisecond, 400*time.Millisecond, time.Hour
	d, reg := newDispatcher(t, opts, testApp(apps.Webhook{URL: e.srv.URL}))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		d.Close(ctx)
	}()
	for i := range 10 {
		d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: fmt.Sprint("c", i)})
	}
	testkit.Eventually(t, 5*time.Second, "the first attempt", func() bool { return len(e.tries()) >= 1 })
	time.Sleep(time.Second)
	tries := e.tries()
	// Without the backoff: 1 s / 50 ms ≈ 20 attempts. With it: one per
	// 50 ms + 320…480 ms, at most 3 here.
	if len(tries) > 4 {
		t.Fatalf("%d attempts in 1 s at a hanging endpoint, want it backed off (≤ 4)", len(tries))
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < 300*time.Millisecond {
			t.Fatalf("attempt %d came %v after the previous timeout", i+1, gap)
		}
	}
	if s := d.Stats(); s.Failed == 0 {
		t.Fatalf("stats %+v: the timeouts are failed attempts", s)
	}
}

// TestAppsTakeTurns: with one sender, two apps with a backlog each are
// served alternately, not one app's backlog first.
func TestAppsTakeTurns(t *testing.T) {
	shared := newEndpoint(t)
	shared.block = make(chan struct{})
	a := testApp(apps.Webhook{URL: shared.srv.URL + "/a1"}, apps.Webhook{URL: shared.srv.URL + "/a2"}, apps.Webhook{URL: shared.srv.URL + "/a3"})
	b := testApp(apps.Webhook{URL: shared.srv.URL + "/b"})
	b.ID, b.Key, b.Secret = "2", "key-2", "secret-2"
	opts := fastOptions()
	opts.Senders = 1
	d, reg := newDispatcher(t, opts, a, b)
	// A's three endpoints get a body each, then B's one: the single
	// sender is held by A's first request until release.
	d.Emit(reg.ByID("1"), Event{Name: "cache_miss", Channel: "a"})
	testkit.Eventually(t, 5*time.Second, "A's first request", func() bool { return len(shared.tries()) == 1 })
	d.Emit(reg.ByID("2"), Event{Name: "cache_miss", Channel: "b"})
	testkit.Eventually(t, 5*time.Second, "B in line", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.apps["2"] != nil && d.apps["2"].queued
	})
	close(shared.block)
	testkit.Eventually(t, 5*time.Second, "all four", func() bool { return len(shared.got()) == 4 })
	got := shared.got()
	// A took its turn (a1) alone and was back in line (a2) before B
	// came; then B, then A's a3. An endpoint FIFO gave A A A B.
	var order []string
	for _, g := range got {
		order = append(order, g.header.Get("X-Pusher-Key"))
	}
	if !slices.Equal(order, []string{"key-1", "key-1", "key-2", "key-1"}) {
		t.Fatalf("order by app %v, want A A B A: B waited behind A's backlog", order)
	}
}

// TestAHangingHostHoldsAtMostPerHost: six apps with three endpoints each
// on one hanging host would hold all 16 senders by the per-app bound
// alone; the per-host bound leaves the other hosts' webhooks free. Once
// the host answers, every waiting body goes out.
func TestAHangingHostHoldsAtMostPerHost(t *testing.T) {
	slow := newEndpoint(t)
	release := make(chan struct{})
	slow.block = release
	var list []apps.App
	for i := range 6 {
		a := testApp(apps.Webhook{URL: slow.srv.URL + "/x"}, apps.Webhook{URL: slow.srv.URL + "/y"}, apps.Webhook{URL: slow.srv.URL + "/z"})
		a.ID, a.Key, a.Secret = fmt.Sprint("slow", i), fmt.Sprint("key-slow", i), "s"
		list = append(list, a)
	}
	fast := newEndpoint(t)
	b := testApp(apps.Webhook{URL: fast.srv.URL})
	b.ID, b.Key, b.Secret = "2", "key-2", "secret-2"
	opts := fastOptions()
	opts.HeaderTimeout = time.Minute // hanging, not timing out, for this test
	d, reg := newDispatcher(t, opts, append(list, b)...)
	for i := range 6 {
		d.Emit(reg.ByID(fmt.Sprint("slow", i)), Event{Name: "cache_miss", Channel: "c"})
	}
	testkit.Eventually(t, 5*time.Second, "the host's slots taken", func() bool { return len(slow.tries()) >= 4 })
	time.Sleep(100 * time.Millisecond)
	if n := len(slow.tries()); n != 4 {
		t.Fatalf("%d requests in flight at one host, want PerHost = 4", n)
	}
	start := time.Now()
	d.Emit(reg.ByID("2"), Event{Name: "cache_miss", Channel: "b"})
	testkit.Eventually(t, 5*time.Second, "B's webhook", func() bool { return len(fast.events()) == 1 })
	if took := time.Since(start); took > time.Second {
		t.Fatalf("B's webhook took %v while one host hangs", took)
	}
	close(release)
	testkit.Eventually(t, 5*time.Second, "all 18 bodies at the slow host", func() bool { return len(slow.got()) == 18 })
}
