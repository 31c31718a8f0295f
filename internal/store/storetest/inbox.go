package storetest

import (
	"fmt"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
)

func testInbox(t *testing.T, s store.Store) {
	mustFollow(t, s, "1", "ann", "news")
	mustFollow(t, s, "1", "ann", "sports")
	mustFollow(t, s, "1", "bob", "sports")
	mustFollow(t, s, "2", "ann", "weather") // another app
	goal := mustAppend(t, s, trigger("1", "goal", "sports", "news"))
	dm := mustAppend(t, s, trigger("1", "dm", "personal-ann"))
	mustAppend(t, s, trigger("1", "rain", "weather"))
	ann := inbox(t, s, "1", "ann")
	if names(ann) != "[dm goal]" || !sameRecord(ann[0], dm[0]) || !sameRecord(ann[1], goal[0]) {
		t.Fatalf("ann's inbox (newest first, full records, one row per trigger, own personal channel): %+v", ann)
	}
	if bob := inbox(t, s, "1", "bob"); len(bob) != 1 || !sameRecord(bob[0], goal[0]) {
		t.Fatalf("bob's inbox: %+v", bob)
	}
	if other := inbox(t, s, "2", "ann"); len(other) != 0 {
		t.Fatalf("another app's inbox got %+v", other)
	}
	if nobody := inbox(t, s, "1", "nobody"); len(nobody) != 0 {
		t.Fatalf("inbox of a user who follows nothing: %+v", nobody)
	}
	// A personal channel reaches only its owner, not a user named in it.
	mustAppend(t, s, trigger("1", "note", "personal-bob"))
	if names(inbox(t, s, "1", "ann")) != "[dm goal]" || names(inbox(t, s, "1", "bob")) != "[note goal]" {
		t.Fatal("personal-bob reached someone other than bob")
	}
	// A follow created later does not back-fill; it catches what follows.
	mustFollow(t, s, "1", "bob", "weather")
	if bob := inbox(t, s, "1", "bob"); names(bob) != "[note goal]" {
		t.Fatalf("follow back-filled the inbox: %s", names(bob))
	}
	mustAppend(t, s, trigger("1", "snow", "weather"))
	if bob := inbox(t, s, "1", "bob"); names(bob) != "[snow note goal]" {
		t.Fatalf("a new follow's next event: %s", names(bob))
	}
	// Unfollowing stops new rows and keeps the old ones.
	if _, err := s.Unfollow(ctx, "1", "bob", "weather"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, trigger("1", "hail", "weather"))
	if bob := inbox(t, s, "1", "bob"); names(bob) != "[snow note goal]" {
		t.Fatalf("after unfollow: %s", names(bob))
	}
}

// testInboxFirstChannel: a user reached by several channels of one trigger
// gets one row, for the first of them in request order.
func testInboxFirstChannel(t *testing.T, s store.Store) {
	mustFollow(t, s, "1", "ann", "a")
	mustFollow(t, s, "1", "ann", "b")
	mustFollow(t, s, "1", "bob", "b")
	mustAppend(t, s, trigger("1", "ab", "a", "b"))
	mustAppend(t, s, trigger("1", "ba", "b", "a"))
	mustAppend(t, s, trigger("1", "a-personal", "a", "personal-ann"))
	mustAppend(t, s, trigger("1", "personal-b", "personal-ann", "b"))
	ann := inbox(t, s, "1", "ann")
	var got []string
	for _, e := range ann {
		got = append(got, e.Event+"@"+e.Channel)
	}
	if fmt.Sprint(got) != "[personal-b@personal-ann a-personal@a ba@b ab@a]" {
		t.Fatalf("ann's rows: %v", got)
	}
	bob := inbox(t, s, "1", "bob")
	got = got[:0]
	for _, e := range bob {
		got = append(got, e.Event+"@"+e.Channel)
	}
	if fmt.Sprint(got) != "[personal-b@b ba@b ab@b]" {
		t.Fatalf("bob's rows: %v", got)
	}
}

func testInboxPaging(t *testing.T, s store.Store) {
	mustFollow(t, s, "1", "ann", "news")
	var want []string
	for i := 0; i < 17; i++ {
		name := fmt.Sprint("n", i)
		mustAppend(t, s, trigger("1", name, "news"))
		want = append([]string{name}, want...)
	}
	for _, limit := range []int{1, 3, 17, 100} {
		var got []string
		for before, pages := "", 0; ; pages++ {
			page, more, err := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: before, Limit: limit})
			if err != nil || len(page) > limit || pages > 20 {
				t.Fatalf("limit %d: %d rows, %v", limit, len(page), err)
			}
			for _, e := range page {
				got = append(got, e.Event)
			}
			if !more {
				break
			}
			before = page[len(page)-1].MID
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d pages: %v, want %v", limit, got, want)
		}
	}
	skipped, more, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{Skip: 15, Limit: 10})
	if names(skipped) != "[n1 n0]" || more {
		t.Fatalf("skip 15: %s more=%v", names(skipped), more)
	}
	skipped, more, _ = s.Inbox(ctx, "1", "ann", store.InboxQuery{Skip: 2, Limit: 2})
	if names(skipped) != "[n14 n13]" || !more {
		t.Fatalf("skip 2 limit 2: %s more=%v", names(skipped), more)
	}
	all := inbox(t, s, "1", "ann")
	page, _, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: all[4].MID, Skip: 1, Limit: 2})
	if names(page) != "[n10 n9]" {
		t.Fatalf("before n12, skip 1: %s", names(page))
	}
	if page, more, _ := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: all[16].MID, Limit: 5}); len(page) != 0 || more {
		t.Fatalf("before the oldest: %s", names(page))
	}
	// Trimming takes the oldest: a cursor into the trimmed part is still
	// valid and reads nothing; one into the kept part pages on.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 10}, future()); err != nil {
		t.Fatal(err)
	}
	if page, more, err := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: all[12].MID, Limit: 5}); err != nil || len(page) != 0 || more {
		t.Fatalf("before a trimmed row: %s more=%v err=%v", names(page), more, err)
	}
	if page, more, err := s.Inbox(ctx, "1", "ann", store.InboxQuery{BeforeMID: all[7].MID, Limit: 5}); err != nil || names(page) != "[n8 n7]" || more {
		t.Fatalf("before n9 after trimming to 10: %s more=%v err=%v", names(page), more, err)
	}
}
