package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

func testTrim(t *testing.T, s store.Store) {
	base := time.Now().Truncate(time.Millisecond)
	mustFollow(t, s, "1", "ann", "c")
	mustFollow(t, s, "2", "ann", "c")
	for i := 0; i < 10; i++ {
		at := base.Add(time.Duration(i) * time.Hour)
		mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: fmt.Sprint("e", i), Source: "api", Time: at})
		mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"d"}, Event: fmt.Sprint("d", i), Source: "api", Time: at})
		mustAppend(t, s, store.Trigger{AppID: "2", Channels: []string{"c"}, Event: "other", Source: "api", Time: at})
	}
	// At base+12h a max age of 8h01 drops e0..e3 (and d0..d3); the cap of
	// 5 per channel then drops e4 (and d4).
	removed, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 5, MaxAge: 8*time.Hour + time.Minute, InboxMaxPerUser: 100}, base.Add(12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if left := all(t, s, "1", "c"); names(left) != "[e5 e6 e7 e8 e9]" {
		t.Fatalf("channel c after trim by age and count: %s", names(left))
	}
	if left := all(t, s, "1", "d"); names(left) != "[d5 d6 d7 d8 d9]" {
		t.Fatalf("caps are per channel: d kept %s", names(left))
	}
	// 10 records and ann's 5 inbox rows for c.
	if removed != 15 {
		t.Fatalf("Trim reported %d removed, want 15 (10 records, 5 inbox rows)", removed)
	}
	if in := inbox(t, s, "1", "ann"); names(in) != "[e9 e8 e7 e6 e5]" {
		t.Fatalf("inbox rows of trimmed records must go: %s", names(in))
	}
	if other := all(t, s, "2", "c"); len(other) != 10 {
		t.Fatalf("Trim of app 1 touched app 2: %d left", len(other))
	}
	if in := inbox(t, s, "2", "ann"); len(in) != 10 {
		t.Fatalf("Trim of app 1 touched app 2's inbox: %d left", len(in))
	}
	if oldest, _ := s.OldestSeq(ctx, "1", "c"); oldest != 6 {
		t.Fatalf("OldestSeq after trim = %d, want 6", oldest)
	}
	// Trimming again at the same time removes nothing.
	if removed, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 5, MaxAge: 8*time.Hour + time.Minute, InboxMaxPerUser: 100}, base.Add(12*time.Hour)); removed != 0 || err != nil {
		t.Fatalf("second identical trim removed %d, %v", removed, err)
	}
	// Count cap 2 keeps the newest two; inbox cap 1 keeps ann's newest row.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 2, MaxAge: 1000 * time.Hour, InboxMaxPerUser: 1}, base); err != nil {
		t.Fatal(err)
	}
	if left := all(t, s, "1", "c"); fmt.Sprint(seqs(left)) != "[9 10]" {
		t.Fatalf("count cap 2 kept %v", seqs(left))
	}
	if in := inbox(t, s, "1", "ann"); len(in) != 1 || in[0].Seq != 10 {
		t.Fatalf("inbox cap 1 kept %+v", in)
	}
	// A record kept by the channel caps may leave a capped inbox: the
	// inbox cap is per user, the record stays readable on its channel.
	if left := all(t, s, "1", "c"); len(left) != 2 {
		t.Fatal("the inbox cap removed records")
	}
	// Everything aged out: sequences outlive trimming.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 1, MaxAge: time.Millisecond, InboxMaxPerUser: 1}, future()); err != nil {
		t.Fatal(err)
	}
	if left := all(t, s, "1", "c"); len(left) != 0 {
		t.Fatalf("after aging out everything: %v", seqs(left))
	}
	if oldest, _ := s.OldestSeq(ctx, "1", "c"); oldest != 0 {
		t.Fatalf("OldestSeq with nothing retained = %d, want 0", oldest)
	}
	if last, _ := s.LastSeq(ctx, "1", "c"); last != 10 {
		t.Fatalf("LastSeq after trimming everything = %d, want 10", last)
	}
	if in := inbox(t, s, "1", "ann"); len(in) != 0 {
		t.Fatalf("inbox after trimming everything: %s", names(in))
	}
	out := mustAppend(t, s, trigger("1", "after", "c"))
	if out[0].Seq != 11 {
		t.Fatalf("seq after trimming everything = %d, want 11", out[0].Seq)
	}
	if in := inbox(t, s, "1", "ann"); names(in) != "[after]" {
		t.Fatalf("inbox after trimming and appending: %s", names(in))
	}
}

// testTrimZeroCaps: a zero cap is no cap.
func testTrimZeroCaps(t *testing.T, s store.Store) {
	mustFollow(t, s, "1", "ann", "c")
	old := time.Now().Add(-1000 * time.Hour)
	for i := 0; i < 5; i++ {
		mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api", Time: old})
	}
	removed, err := s.Trim(ctx, "1", store.Retention{}, future())
	if err != nil || removed != 0 {
		t.Fatalf("zero retention removed %d, %v", removed, err)
	}
	if len(all(t, s, "1", "c")) != 5 || len(inbox(t, s, "1", "ann")) != 5 {
		t.Fatal("zero retention trimmed something")
	}
	// Only the inbox cap: records stay, the inbox shrinks.
	if removed, err := s.Trim(ctx, "1", store.Retention{InboxMaxPerUser: 2}, future()); err != nil || removed != 3 {
		t.Fatalf("inbox cap 2 of 5 removed %d, %v", removed, err)
	}
	if len(all(t, s, "1", "c")) != 5 || len(inbox(t, s, "1", "ann")) != 2 {
		t.Fatal("the inbox cap alone must leave the records")
	}
}

func testDeleteAppCascades(t *testing.T, s store.Store) {
	for _, id := range []string{"7", "8"} {
		if err := s.CreateApp(ctx, newApp(id, "app-"+id)); err != nil {
			t.Fatal(err)
		}
		mustFollow(t, s, id, "u", "c")
		for i := 0; i < 3; i++ {
			mustAppend(t, s, trigger(id, "e", "c", "personal-u"))
		}
	}
	if err := s.DeleteApp(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.FollowedBy(ctx, "7", "u"); len(f) != 0 {
		t.Fatal("follows survived app deletion")
	}
	if f, _, _ := s.ListFollows(ctx, "7", store.FollowQuery{Limit: 10}); len(f) != 0 {
		t.Fatal("follows survived app deletion")
	}
	for _, ch := range []string{"c", "personal-u"} {
		if e := all(t, s, "7", ch); len(e) != 0 {
			t.Fatalf("events of %s survived app deletion", ch)
		}
		if last, _ := s.LastSeq(ctx, "7", ch); last != 0 {
			t.Fatalf("sequence of %s survived app deletion: %d", ch, last)
		}
	}
	if in := inbox(t, s, "7", "u"); len(in) != 0 {
		t.Fatal("inbox survived app deletion")
	}
	// The other app is untouched.
	if len(all(t, s, "8", "c")) != 3 || len(inbox(t, s, "8", "u")) != 3 {
		t.Fatal("deleting app 7 touched app 8")
	}
	if f, _ := s.FollowedBy(ctx, "8", "u"); len(f) != 1 {
		t.Fatal("deleting app 7 touched app 8's follows")
	}
	// A recreated app with the same id starts afresh: sequences went with
	// the app, so its first record is seq 1 and nothing old is readable.
	if err := s.CreateApp(ctx, newApp("7", "app-7")); err != nil {
		t.Fatal(err)
	}
	out := mustAppend(t, s, trigger("7", "new", "c"))
	if out[0].Seq != 1 {
		t.Fatalf("recreated app's first seq = %d, want 1", out[0].Seq)
	}
	if e := all(t, s, "7", "c"); names(e) != "[new]" {
		t.Fatalf("recreated app reads %s", names(e))
	}
	if in := inbox(t, s, "7", "u"); len(in) != 0 {
		t.Fatal("the recreated app's user inherited an inbox (or a follow)")
	}
}
