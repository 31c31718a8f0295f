package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

func testAppendAndRead(t *testing.T, s store.Store) {
	at := time.UnixMilli(1_719_580_393_127).Add(456 * time.Microsecond)
	var seen []store.Event
	calls := 0
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"a", "b"}, Event: "ev", Data: `{"x":1}`, Source: "api", Time: at},
		func(evs []store.Event) { seen = evs; calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Channel != "a" || out[1].Channel != "b" || out[0].Seq != 1 || out[1].Seq != 1 || out[0].MID == out[1].MID {
		t.Fatalf("one record per channel in order, each with its own seq and mid: %+v", out)
	}
	if calls != 1 || len(seen) != 2 || !sameRecord(seen[0], out[0]) || !sameRecord(seen[1], out[1]) {
		t.Fatalf("then must run once, before Append returns, with the records: %d calls, %+v", calls, seen)
	}
	for _, e := range out {
		if e.Timestamp.UnixMilli() != 1_719_580_393_127 || e.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("timestamp %v: want the trigger's time truncated to the millisecond", e.Timestamp)
		}
		if e.AppID != "1" || e.Event != "ev" || e.Data != `{"x":1}` || e.Source != "api" || e.SocketID != "" || e.UserID != "" {
			t.Fatalf("record fields: %+v", e)
		}
	}
	for i, ch := range []string{"a", "b"} {
		if got := all(t, s, "1", ch); len(got) != 1 || !sameRecord(got[0], out[i]) {
			t.Fatalf("read back %s: %+v, want %+v", ch, got, out[i])
		}
	}
	before := time.Now().Truncate(time.Millisecond)
	client := store.Trigger{AppID: "1", Channels: []string{"private-c"}, Event: "client-x", Data: "d", Source: "client", SocketID: "1.2", UserID: "u9"}
	c := mustAppend(t, s, client)[0]
	if c.Timestamp.Before(before) || c.Timestamp.After(time.Now()) || c.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("a zero trigger time is the server clock, to the millisecond: %v", c.Timestamp)
	}
	got := all(t, s, "1", "private-c")
	if len(got) != 1 || !sameRecord(got[0], c) || got[0].Source != "client" || got[0].SocketID != "1.2" || got[0].UserID != "u9" {
		t.Fatalf("client record did not round-trip: %+v", got)
	}
	if b := mustAppend(t, s, trigger("1", "again", "b")); b[0].Seq != 2 {
		t.Fatalf("second record of b has seq %d, want 2", b[0].Seq)
	}
	if last, err := s.LastSeq(ctx, "1", "b"); last != 2 || err != nil {
		t.Fatalf("LastSeq = %d %v, want 2", last, err)
	}
	if last, err := s.LastSeq(ctx, "1", "never"); last != 0 || err != nil {
		t.Fatalf("LastSeq of an unused channel = %d %v", last, err)
	}
	if oldest, err := s.OldestSeq(ctx, "1", "never"); oldest != 0 || err != nil {
		t.Fatalf("OldestSeq of an unused channel = %d %v", oldest, err)
	}
	if got, more, err := s.Events(ctx, "1", "never", store.EventQuery{Limit: 10}); len(got) != 0 || more || err != nil {
		t.Fatalf("Events of an unused channel: %v %v %v", got, more, err)
	}
	// Apps are separate: same channel name, own records and sequence.
	if got, _, _ := s.Events(ctx, "2", "a", store.EventQuery{Limit: 10}); len(got) != 0 {
		t.Fatal("apps must not see each other's events")
	}
	if other := mustAppend(t, s, trigger("2", "e", "a")); other[0].Seq != 1 {
		t.Fatalf("another app's channel a starts at seq %d, want 1", other[0].Seq)
	}
	// The same channel twice in one trigger is two records.
	if twice := mustAppend(t, s, trigger("1", "e", "d", "d")); twice[0].Seq != 1 || twice[1].Seq != 2 || twice[0].MID == twice[1].MID {
		t.Fatalf("repeated channel: %+v", twice)
	}
}

// testConcurrentSequences: 8 writers × 50 triggers on one channel get
// seqs 1..400 exactly once, and then-callbacks observe them in order.
func testConcurrentSequences(t *testing.T, s store.Store) {
	const writers, each = 8, 50
	var mu sync.Mutex
	var order []int64
	returned := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"hot"}, Event: "e", Data: fmt.Sprint(w, "-", i), Source: "api"},
					func(evs []store.Event) { mu.Lock(); order = append(order, evs[0].Seq); mu.Unlock() })
				if err != nil {
					t.Error(err)
					return
				}
				returned[w] = append(returned[w], out[0].Seq)
			}
		}()
	}
	wg.Wait()
	if len(order) != writers*each {
		t.Fatalf("%d callbacks, want %d", len(order), writers*each)
	}
	for i, seq := range order {
		if seq != int64(i+1) {
			t.Fatalf("callback %d saw seq %d: callbacks must run in seq order without gaps", i, seq)
		}
	}
	for w, got := range returned {
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("writer %d got seq %d after %d", w, got[i], got[i-1])
			}
		}
	}
	stored := all(t, s, "1", "hot")
	if len(stored) != writers*each {
		t.Fatalf("stored %d records, want %d", len(stored), writers*each)
	}
	for i, e := range stored {
		if e.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, e.Seq)
		}
	}
	if last, _ := s.LastSeq(ctx, "1", "hot"); last != writers*each {
		t.Fatalf("LastSeq = %d", last)
	}
}

// testConcurrentMultiChannel: triggers on overlapping channel sets, from
// many goroutines, keep every channel's sequence gapless and its callbacks
// in seq order.
func testConcurrentMultiChannel(t *testing.T, s store.Store) {
	sets := [][]string{{"x", "y"}, {"y", "x"}, {"x"}, {"y", "z"}}
	const writers, each = 8, 25
	var mu sync.Mutex
	seen := map[string][]int64{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				chans := sets[(w+i)%len(sets)]
				_, err := s.Append(ctx, trigger("1", "e", chans...), func(evs []store.Event) {
					mu.Lock()
					defer mu.Unlock()
					for j, e := range evs {
						if e.Channel != chans[j] {
							t.Errorf("record %d is on %s, want %s", j, e.Channel, chans[j])
						}
						seen[e.Channel] = append(seen[e.Channel], e.Seq)
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, ch := range []string{"x", "y", "z"} {
		got := seen[ch]
		for i, seq := range got {
			if seq != int64(i+1) {
				t.Fatalf("channel %s: callback %d saw seq %d (all: %v)", ch, i, seq, got)
			}
		}
		if stored := all(t, s, "1", ch); len(stored) != len(got) || len(got) == 0 {
			t.Fatalf("channel %s: %d stored, %d callbacks", ch, len(stored), len(got))
		}
	}
}

// testMIDs: every record's mid is a canonical UUIDv7, unique, and mids
// of later triggers sort after earlier ones.
func testMIDs(t *testing.T, s store.Store) {
	var mids []string
	for i := 0; i < 50; i++ {
		for _, e := range mustAppend(t, s, trigger("1", "e", "a", "b", "c")) {
			mids = append(mids, e.MID)
		}
	}
	seen := map[string]bool{}
	for i, m := range mids {
		if !uuidV7.MatchString(m) {
			t.Fatalf("mid %q is not a canonical lowercase UUIDv7", m)
		}
		if seen[m] {
			t.Fatalf("mid %s made twice", m)
		}
		seen[m] = true
		if i > 0 && m <= mids[i-1] {
			t.Fatalf("mid %s does not sort after %s", m, mids[i-1])
		}
	}
	// The mid's time is never before the record's (it may be later: the
	// generator never goes back, whatever the trigger's time).
	e := mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"a"}, Event: "e", Source: "api", Time: time.Now().Add(-time.Hour)})[0]
	var ms int64
	if _, err := fmt.Sscanf(e.MID[0:8]+e.MID[9:13], "%x", &ms); err != nil || ms < e.Timestamp.UnixMilli() {
		t.Fatalf("mid %s holds %d ms, before the record's %d", e.MID, ms, e.Timestamp.UnixMilli())
	}
	if e.MID <= mids[len(mids)-1] {
		t.Fatalf("a trigger with an earlier time got mid %s, not after %s", e.MID, mids[len(mids)-1])
	}
}

func testEventPaging(t *testing.T, s store.Store) {
	for i := 0; i < 23; i++ {
		mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Data: fmt.Sprint(i), Source: "api"})
	}
	mustAppend(t, s, trigger("1", "e", "other"))
	var want []int64
	for seq := int64(23); seq >= 1; seq-- {
		want = append(want, seq)
	}
	for _, limit := range []int{1, 5, 23, 100} {
		var back []int64
		for before, pages := int64(0), 0; ; pages++ {
			page, more, err := s.Events(ctx, "1", "c", store.EventQuery{Before: before, Limit: limit})
			if err != nil || len(page) > limit || pages > 30 {
				t.Fatalf("limit %d: %d records, %v", limit, len(page), err)
			}
			back = append(back, seqs(page)...)
			if !more {
				break
			}
			before = page[len(page)-1].Seq
		}
		if fmt.Sprint(back) != fmt.Sprint(want) {
			t.Fatalf("backward pages of %d: %v", limit, back)
		}
		var fwd []int64
		for after, pages := int64(0), 0; ; pages++ {
			page, more, err := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, After: after, Limit: limit})
			if err != nil || len(page) > limit || pages > 30 {
				t.Fatalf("limit %d: %d records, %v", limit, len(page), err)
			}
			fwd = append(fwd, seqs(page)...)
			if !more {
				break
			}
			after = page[len(page)-1].Seq
		}
		if len(fwd) != 23 || fwd[0] != 1 || fwd[22] != 23 {
			t.Fatalf("forward pages of %d: %v", limit, fwd)
		}
		for i := range fwd {
			if fwd[i] != int64(i+1) {
				t.Fatalf("forward pages of %d: %v", limit, fwd)
			}
		}
	}
	// An exact fit has no next page.
	if page, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 23}); len(page) != 23 || more {
		t.Fatalf("limit 23 of 23: %d, more=%v", len(page), more)
	}
	if page, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 22}); len(page) != 22 || !more {
		t.Fatalf("limit 22 of 23: %d, more=%v", len(page), more)
	}
	// Skip counts from the newest (skip mode of pushi:latest).
	skip, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Skip: 20, Limit: 10})
	if fmt.Sprint(seqs(skip)) != "[3 2 1]" || more {
		t.Fatalf("skip 20 of 23: %v more=%v", seqs(skip), more)
	}
	skip, more, _ = s.Events(ctx, "1", "c", store.EventQuery{Skip: 2, Limit: 3})
	if fmt.Sprint(seqs(skip)) != "[21 20 19]" || !more {
		t.Fatalf("skip 2 limit 3: %v more=%v", seqs(skip), more)
	}
	if skip, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Skip: 23, Limit: 3}); len(skip) != 0 || more {
		t.Fatalf("skip past the end: %v more=%v", seqs(skip), more)
	}
	// Before and skip combine.
	if page, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Before: 10, Skip: 1, Limit: 2}); fmt.Sprint(seqs(page)) != "[8 7]" {
		t.Fatalf("before 10 skip 1: %v", seqs(page))
	}
	// Since mode: seq > after, oldest first.
	since, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, After: 20, Limit: 10})
	if fmt.Sprint(seqs(since)) != "[21 22 23]" || more {
		t.Fatalf("since 20: %v more=%v", seqs(since), more)
	}
	if since, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, After: 23, Limit: 10}); len(since) != 0 || more {
		t.Fatalf("since the last: %v more=%v", seqs(since), more)
	}
	if page, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Before: 1, Limit: 10}); len(page) != 0 {
		t.Fatalf("before 1: %v", seqs(page))
	}
	if oldest, err := s.OldestSeq(ctx, "1", "c"); oldest != 1 || err != nil {
		t.Fatalf("OldestSeq = %d %v", oldest, err)
	}
}

func testCanceledAppend(t *testing.T, s store.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	if _, err := s.Append(cctx, trigger("1", "e", "c"), func([]store.Event) { called = true }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled append: %v, want context.Canceled", err)
	}
	if called {
		t.Fatal("then ran for a trigger that was not stored")
	}
	if got, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); len(got) != 0 {
		t.Fatal("a canceled append was stored")
	}
	if out := mustAppend(t, s, trigger("1", "e", "c")); out[0].Seq != 1 {
		t.Fatalf("a canceled append used seq: next is %d, want 1", out[0].Seq)
	}
}
