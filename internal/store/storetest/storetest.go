// Package storetest is the contract every store.Store backend must pass.
// It tests behaviour through the interface only, so SQLite and MongoDB
// are held to the same rules.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole contract.
func Run(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Apps", testApps},
		{"Meta", testMeta},
		{"Follows", testFollows},
		{"FollowPaging", testFollowPaging},
		{"AppendAndRead", testAppendAndRead},
		{"ConcurrentSequences", testConcurrentSequences},
		{"Inbox", testInbox},
		{"EventPaging", testEventPaging},
		{"Trim", testTrim},
		{"DeleteAppCascades", testDeleteAppCascades},
		{"CanceledAppend", testCanceledAppend},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			c.fn(t, s)
		})
	}
}

var ctx = context.Background()

func newApp(id, name string) store.StoredApp {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = id, "key-"+id, "secret-"+id, name
	return store.StoredApp{App: a}
}

func testApps(t *testing.T, s store.Store) {
	a := newApp("100", "one")
	a.App.Persistence.Default = true
	a.PreviousSecret, a.PreviousValidUntil = "old", time.UnixMilli(1_800_000_000_123)
	if err := s.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, dup := range []store.StoredApp{newApp("100", "other"), func() store.StoredApp { b := newApp("101", "one"); return b }(),
		func() store.StoredApp { b := newApp("102", "x"); b.App.Key = "key-100"; return b }()} {
		if err := s.CreateApp(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate id/name/key %s: got %v, want ErrConflict", dup.App.ID, err)
		}
	}
	got, err := s.App(ctx, "100")
	if err != nil {
		t.Fatal(err)
	}
	if !got.App.Persistence.Default || got.App.Secret != "secret-100" || got.PreviousSecret != "old" || !got.PreviousValidUntil.Equal(a.PreviousValidUntil) || got.FromConfig {
		t.Fatalf("app did not round-trip: %+v", got)
	}
	if _, err := s.App(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown app: %v", err)
	}
	a.App.Name, a.FromConfig = "renamed", true
	if err := s.PutApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.PutApp(ctx, newApp("099", "zero")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.App(ctx, "100"); got.App.Name != "renamed" || !got.FromConfig {
		t.Fatalf("PutApp did not replace: %+v", got)
	}
	var ids []string
	for after := ""; ; {
		page, err := s.ListApps(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		ids = append(ids, page[0].App.ID)
		after = page[0].App.ID
	}
	if fmt.Sprint(ids) != "[099 100]" {
		t.Fatalf("ListApps pages: %v", ids)
	}
	if err := s.DeleteApp(ctx, "100"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "100"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func testMeta(t *testing.T, s store.Store) {
	if _, ok, err := s.Meta(ctx, "k"); ok || err != nil {
		t.Fatalf("absent key: ok=%v err=%v", ok, err)
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.SetMetaIfAbsent(ctx, "k", fmt.Sprint("v", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatalf("concurrent first writers disagree: %v", got)
		}
	}
	if v, ok, _ := s.Meta(ctx, "k"); !ok || v != got[0] {
		t.Fatalf("Meta = %q, %v", v, ok)
	}
}

func testFollows(t *testing.T, s store.Store) {
	f, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "news"}, 2)
	if err != nil || !created || f.CreatedAt.IsZero() || f.CreatedAt.Nanosecond() != 0 {
		t.Fatalf("first follow: %+v %v %v", f, created, err)
	}
	again, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "news"}, 2)
	if err != nil || created || !again.CreatedAt.Equal(f.CreatedAt) {
		t.Fatalf("repeat follow must be idempotent: %+v %v %v", again, created, err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "b"}, 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "c"}, 2); !errors.Is(err, store.ErrTooManyFollows) {
		t.Fatalf("third follow past max 2: %v", err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "b"}, 2); err != nil || created {
		t.Fatalf("existing follow at the limit must still be idempotent: %v %v", created, err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "2", UserID: "u", Channel: "c"}, 2); err != nil {
		t.Fatal("limits are per app:", err)
	}
	chans, err := s.FollowedBy(ctx, "1", "u")
	if err != nil || fmt.Sprint(chans) != "[b news]" {
		t.Fatalf("FollowedBy = %v %v", chans, err)
	}
	if removed, err := s.Unfollow(ctx, "1", "u", "news"); !removed || err != nil {
		t.Fatalf("unfollow: %v %v", removed, err)
	}
	if removed, err := s.Unfollow(ctx, "1", "u", "news"); removed || err != nil {
		t.Fatalf("second unfollow: %v %v", removed, err)
	}
	if chans, _ := s.FollowedBy(ctx, "1", "nobody"); chans == nil || len(chans) != 0 {
		t.Fatalf("FollowedBy of nobody = %#v, want empty", chans)
	}
}

func testFollowPaging(t *testing.T, s store.Store) {
	want := map[string]bool{}
	for u := 0; u < 5; u++ {
		for c := 0; c < 7; c++ {
			f := store.Follow{AppID: "1", UserID: fmt.Sprint("user", u), Channel: fmt.Sprint("ch", c)}
			if _, _, err := s.Follow(ctx, f, 100); err != nil {
				t.Fatal(err)
			}
			want[f.UserID+"/"+f.Channel] = true
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := s.ListFollows(ctx, "1", store.FollowQuery{Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			k := f.UserID + "/" + f.Channel
			if seen[k] {
				t.Fatalf("%s listed twice", k)
			}
			seen[k] = true
		}
		if next == "" {
			break
		}
		cursor = next
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paging saw %d of %d follows", len(seen), len(want))
	}
	byUser, _, err := s.ListFollows(ctx, "1", store.FollowQuery{UserID: "user3", Limit: 100})
	if err != nil || len(byUser) != 7 {
		t.Fatalf("filter by user: %d %v", len(byUser), err)
	}
	byChan, _, err := s.ListFollows(ctx, "1", store.FollowQuery{Channel: "ch2", Limit: 100})
	if err != nil || len(byChan) != 5 {
		t.Fatalf("filter by channel: %d %v", len(byChan), err)
	}
	if _, _, err := s.ListFollows(ctx, "1", store.FollowQuery{Cursor: "%%%"}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("garbage cursor: %v", err)
	}
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func testAppendAndRead(t *testing.T, s store.Store) {
	at := time.UnixMilli(1_719_580_393_127).Add(456 * time.Microsecond)
	var seen []store.Event
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"a", "b"}, Event: "ev", Data: `{"x":1}`, Source: "api", Time: at},
		func(evs []store.Event) { seen = evs })
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Channel != "a" || out[1].Channel != "b" || out[0].Seq != 1 || out[1].Seq != 1 || out[0].MID == out[1].MID {
		t.Fatalf("one record per channel, own seq and mid: %+v", out)
	}
	if len(seen) != 2 {
		t.Fatal("then did not run before Append returned")
	}
	for _, e := range out {
		if !uuidV7.MatchString(e.MID) {
			t.Fatalf("mid %q is not a UUIDv7", e.MID)
		}
		if e.Timestamp.UnixMilli() != 1_719_580_393_127 || e.Timestamp.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("timestamp %v: want millisecond precision", e.Timestamp)
		}
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"private-c"}, Event: "client-x", Data: "d", Source: "client", SocketID: "1.2", UserID: "u9"}, nil); err != nil {
		t.Fatal(err)
	}
	got, more, err := s.Events(ctx, "1", "private-c", store.EventQuery{Limit: 10})
	if err != nil || more || len(got) != 1 {
		t.Fatalf("Events: %v %v %v", got, more, err)
	}
	if e := got[0]; e.Source != "client" || e.SocketID != "1.2" || e.UserID != "u9" || e.Event != "client-x" || e.Data != "d" || e.AppID != "1" {
		t.Fatalf("record did not round-trip: %+v", e)
	}
	if last, err := s.LastSeq(ctx, "1", "a"); last != 1 || err != nil {
		t.Fatalf("LastSeq = %d %v", last, err)
	}
	if last, err := s.LastSeq(ctx, "1", "never"); last != 0 || err != nil {
		t.Fatalf("LastSeq of an unused channel = %d %v", last, err)
	}
	if got, _, _ := s.Events(ctx, "2", "a", store.EventQuery{Limit: 10}); len(got) != 0 {
		t.Fatal("apps must not see each other's events")
	}
}

// testConcurrentSequences: 8 writers × 50 triggers on one channel get
// seqs 1..400 exactly once, and then-callbacks observe them in order.
func testConcurrentSequences(t *testing.T, s store.Store) {
	const writers, each = 8, 50
	var mu sync.Mutex
	var order []int64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"hot"}, Event: "e", Data: fmt.Sprint(w, "-", i), Source: "api"},
					func(evs []store.Event) { mu.Lock(); order = append(order, evs[0].Seq); mu.Unlock() })
				if err != nil {
					t.Error(err)
					return
				}
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
	all, more, err := s.Events(ctx, "1", "hot", store.EventQuery{Forward: true, Limit: 1000})
	if err != nil || more || len(all) != writers*each {
		t.Fatalf("stored %d (more=%v, err=%v)", len(all), more, err)
	}
	mids := map[string]bool{}
	for i, e := range all {
		if e.Seq != int64(i+1) || mids[e.MID] {
			t.Fatalf("record %d: seq %d, duplicate mid %v", i, e.Seq, mids[e.MID])
		}
		mids[e.MID] = true
	}
}

func testInbox(t *testing.T, s store.Store) {
	for _, f := range []store.Follow{{UserID: "ann", Channel: "news"}, {UserID: "ann", Channel: "sports"}, {UserID: "bob", Channel: "sports"}} {
		f.AppID = "1"
		if _, _, err := s.Follow(ctx, f, 10); err != nil {
			t.Fatal(err)
		}
	}
	// ann follows both channels: one inbox row, for the first channel in order.
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"sports", "news"}, Event: "goal", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"personal-ann"}, Event: "dm", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"weather"}, Event: "rain", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	ann, more, err := s.Inbox(ctx, "1", "ann", store.InboxQuery{Limit: 10})
	if err != nil || more {
		t.Fatal(err, more)
	}
	if len(ann) != 2 || ann[0].Event != "dm" || ann[0].Channel != "personal-ann" || ann[1].Event != "goal" || ann[1].Channel != "sports" {
		t.Fatalf("ann's inbox (newest first, one row per trigger, own personal channel): %+v", ann)
	}
	bob, _, _ := s.Inbox(ctx, "1", "bob", store.InboxQuery{Limit: 10})
	if len(bob) != 1 || bob[0].Channel != "sports" {
		t.Fatalf("bob's inbox: %+v", bob)
	}
	// A follow created later does not back-fill.
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "bob", Channel: "weather"}, 10); err != nil {
		t.Fatal(err)
	}
	if bob, _, _ := s.Inbox(ctx, "1", "bob", store.InboxQuery{Limit: 10}); len(bob) != 1 {
		t.Fatalf("follow back-filled the inbox: %+v", bob)
	}
	// Paging by mid and skip.
	for i := 0; i < 5; i++ {
		if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"news"}, Event: fmt.Sprint("n", i), Source: "api"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for before := ""; ; {
		page, more, err := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			names = append(names, e.Event)
		}
		if !more {
			break
		}
		before = page[len(page)-1].MID
	}
	if fmt.Sprint(names) != "[n4 n3 n2 n1 n0 dm goal]" {
		t.Fatalf("inbox pages: %v", names)
	}
	skipped, _, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{Skip: 5, Limit: 10})
	if len(skipped) != 2 || skipped[0].Event != "dm" {
		t.Fatalf("skip 5: %+v", skipped)
	}
}

func testEventPaging(t *testing.T, s store.Store) {
	for i := 0; i < 23; i++ {
		if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Data: fmt.Sprint(i), Source: "api"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var back []int64
	for before := int64(0); ; {
		page, more, err := s.Events(ctx, "1", "c", store.EventQuery{Before: before, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			back = append(back, e.Seq)
		}
		if !more {
			break
		}
		before = page[len(page)-1].Seq
	}
	if len(back) != 23 || back[0] != 23 || back[22] != 1 || !sort.SliceIsSorted(back, func(i, j int) bool { return back[i] > back[j] }) {
		t.Fatalf("backward pages: %v", back)
	}
	var fwd []int64
	for after := int64(0); ; {
		page, more, err := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			fwd = append(fwd, e.Seq)
		}
		if !more {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(fwd) != 23 || fwd[0] != 1 || fwd[22] != 23 {
		t.Fatalf("forward pages: %v", fwd)
	}
	skip, more, _ := s.Events(ctx, "1", "c", store.EventQuery{Skip: 20, Limit: 10})
	if len(skip) != 3 || skip[0].Seq != 3 || more {
		t.Fatalf("skip 20 of 23: %+v more=%v", skip, more)
	}
	since, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, After: 20, Limit: 10})
	if len(since) != 3 || since[0].Seq != 21 {
		t.Fatalf("since 20: %+v", since)
	}
	if oldest, err := s.OldestSeq(ctx, "1", "c"); oldest != 1 || err != nil {
		t.Fatalf("OldestSeq = %d %v", oldest, err)
	}
}

func testTrim(t *testing.T, s store.Store) {
	base := time.Now()
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "ann", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		at := base.Add(time.Duration(i) * time.Hour)
		if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: fmt.Sprint("e", i), Source: "api", Time: at}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, store.Trigger{AppID: "2", Channels: []string{"c"}, Event: "other", Source: "api", Time: at}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// At base+12h a max age of 8h01 drops e0..e3 and the cap of 5 drops e4.
	removed, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 5, MaxAge: 8*time.Hour + time.Minute, InboxMaxPerUser: 100}, base.Add(12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	left, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, Limit: 100})
	if len(left) != 5 || left[0].Event != "e5" {
		t.Fatalf("after trim by age: %d records, first %+v", len(left), left)
	}
	if removed < 5 {
		t.Fatalf("Trim reported %d removed", removed)
	}
	if inbox, _, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{Limit: 100}); len(inbox) != 5 {
		t.Fatalf("inbox entries of trimmed events must go: %d left", len(inbox))
	}
	if other, _, _ := s.Events(ctx, "2", "c", store.EventQuery{Limit: 100}); len(other) != 10 {
		t.Fatalf("Trim of app 1 touched app 2: %d left", len(other))
	}
	// Count cap and inbox cap.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 2, MaxAge: 1000 * time.Hour, InboxMaxPerUser: 1}, base); err != nil {
		t.Fatal(err)
	}
	left, _, _ = s.Events(ctx, "1", "c", store.EventQuery{Forward: true, Limit: 100})
	if len(left) != 2 || left[0].Seq != 9 || left[1].Seq != 10 {
		t.Fatalf("count cap 2 kept %+v", left)
	}
	if inbox, _, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{Limit: 100}); len(inbox) != 1 || inbox[0].Seq != 10 {
		t.Fatalf("inbox cap 1 kept %+v", inbox)
	}
	// Sequences outlive trimming.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 1, MaxAge: time.Millisecond, InboxMaxPerUser: 1}, base.Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if oldest, _ := s.OldestSeq(ctx, "1", "c"); oldest != 0 {
		t.Fatalf("OldestSeq with nothing retained = %d", oldest)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "after", Source: "api"}, nil)
	if err != nil || out[0].Seq != 11 {
		t.Fatalf("seq after trimming everything: %+v %v (want 11)", out, err)
	}
}

func testDeleteAppCascades(t *testing.T, s store.Store) {
	if err := s.CreateApp(ctx, newApp("7", "seven")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "7", UserID: "u", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, store.Trigger{AppID: "7", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteApp(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.FollowedBy(ctx, "7", "u"); len(f) != 0 {
		t.Fatal("follows survived app deletion")
	}
	if e, _, _ := s.Events(ctx, "7", "c", store.EventQuery{Limit: 10}); len(e) != 0 {
		t.Fatal("events survived app deletion")
	}
	if in, _, _ := s.Inbox(ctx, "7", "u", store.InboxQuery{Limit: 10}); len(in) != 0 {
		t.Fatal("inbox survived app deletion")
	}
	// A recreated app with the same id starts afresh.
	if err := s.CreateApp(ctx, newApp("7", "seven")); err != nil {
		t.Fatal(err)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "7", Channels: []string{"c"}, Event: "e", Source: "api"}, nil)
	if err != nil || out[0].Seq != 1 {
		t.Fatalf("recreated app's first seq: %+v %v", out, err)
	}
}

func testCanceledAppend(t *testing.T, s store.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Append(cctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled append: %v", err)
	}
	if got, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); len(got) != 0 {
		t.Fatal("a canceled append was stored")
	}
}
