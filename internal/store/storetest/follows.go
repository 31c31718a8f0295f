package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

func testFollows(t *testing.T, s store.Store) {
	before := time.Now().Truncate(time.Second)
	f, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "news"}, 10)
	if err != nil || !created || f.AppID != "1" || f.UserID != "u" || f.Channel != "news" {
		t.Fatalf("first follow: %+v %v %v", f, created, err)
	}
	if f.CreatedAt.Before(before) || f.CreatedAt.After(time.Now()) || f.CreatedAt.Nanosecond() != 0 {
		t.Fatalf("created_at %v: want now, second precision", f.CreatedAt)
	}
	again, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "news", CreatedAt: time.Now().Add(time.Hour)}, 10)
	if err != nil || created || !again.CreatedAt.Equal(f.CreatedAt) {
		t.Fatalf("repeat follow must return the existing row: %+v %v %v", again, created, err)
	}
	at := time.Unix(1_719_580_393, 999_000_000)
	g, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "b", CreatedAt: at}, 10)
	if err != nil || g.CreatedAt.Unix() != 1_719_580_393 || g.CreatedAt.Nanosecond() != 0 {
		t.Fatalf("given created_at is kept to the second: %+v %v", g, err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "2", UserID: "u", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	chans, err := s.FollowedBy(ctx, "1", "u")
	if err != nil || fmt.Sprint(chans) != "[b news]" {
		t.Fatalf("FollowedBy = %v %v (apps must be separate)", chans, err)
	}
	listed, _, err := s.ListFollows(ctx, "1", store.FollowQuery{UserID: "u", Channel: "b", Limit: 10})
	if err != nil || len(listed) != 1 || listed[0].UserID != "u" || listed[0].Channel != "b" || !listed[0].CreatedAt.Equal(g.CreatedAt) {
		t.Fatalf("ListFollows = %+v %v, want %+v", listed, err, g)
	}
	if removed, err := s.Unfollow(ctx, "1", "u", "news"); !removed || err != nil {
		t.Fatalf("unfollow: %v %v", removed, err)
	}
	if removed, err := s.Unfollow(ctx, "1", "u", "news"); removed || err != nil {
		t.Fatalf("second unfollow: %v %v", removed, err)
	}
	if removed, err := s.Unfollow(ctx, "1", "nobody", "x"); removed || err != nil {
		t.Fatalf("unfollow of nothing: %v %v", removed, err)
	}
	if chans, _ := s.FollowedBy(ctx, "1", "u"); fmt.Sprint(chans) != "[b]" {
		t.Fatalf("FollowedBy after unfollow = %v", chans)
	}
	if chans, err := s.FollowedBy(ctx, "1", "nobody"); err != nil || len(chans) != 0 {
		t.Fatalf("FollowedBy of nobody = %#v %v, want empty", chans, err)
	}
	// FollowedBy sorts by bytes, not by locale or case.
	for _, c := range []string{"b-x", "B", "a", "é", "Z"} {
		mustFollow(t, s, "3", "v", c)
	}
	if chans, _ := s.FollowedBy(ctx, "3", "v"); fmt.Sprint(chans) != "[B Z a b-x é]" {
		t.Fatalf("FollowedBy order = %v", chans)
	}
}

func testFollowLimit(t *testing.T, s store.Store) {
	for _, c := range []string{"a", "b"} {
		if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: c}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "c"}, 2); !errors.Is(err, store.ErrTooManyFollows) {
		t.Fatalf("third follow past max 2: %v, want ErrTooManyFollows", err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "b"}, 2); err != nil || created {
		t.Fatalf("an existing follow at the limit is still idempotent: %v %v", created, err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "w", Channel: "c"}, 2); err != nil {
		t.Fatal("limits are per user:", err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "2", UserID: "u", Channel: "c"}, 2); err != nil {
		t.Fatal("limits are per app:", err)
	}
	if chans, _ := s.FollowedBy(ctx, "1", "u"); fmt.Sprint(chans) != "[a b]" {
		t.Fatalf("a refused follow was stored: %v", chans)
	}
	if _, err := s.Unfollow(ctx, "1", "u", "a"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "c"}, 2); err != nil || !created {
		t.Fatalf("unfollowing frees a place: %v %v", created, err)
	}
	// A place freed among others is found, whichever it is.
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		mustFollow(t, s, "1", "x", c)
	}
	if _, err := s.Unfollow(ctx, "1", "x", "c"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "x", Channel: "f"}, 5); err != nil || !created {
		t.Fatalf("follow into a freed middle place: %v %v", created, err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "x", Channel: "g"}, 5); !errors.Is(err, store.ErrTooManyFollows) {
		t.Fatalf("sixth follow past max 5: %v", err)
	}
	// A limit lowered to what a user holds refuses new follows, whatever
	// places the held ones took under the higher limit, and keeps
	// existing ones idempotent.
	for _, c := range []string{"a", "b"} {
		if _, err := s.Unfollow(ctx, "1", "x", c); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "x", Channel: "g"}, 3); !errors.Is(err, store.ErrTooManyFollows) {
		t.Fatalf("follow past a lowered max 3 while holding 3: %v", err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "x", Channel: "e"}, 3); err != nil || created {
		t.Fatalf("existing follow under a lowered max: %v %v", created, err)
	}
	if _, created, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "x", Channel: "e"}, 0); err != nil || created {
		t.Fatalf("existing follow with max 0: %v %v", created, err)
	}
	if chans, _ := s.FollowedBy(ctx, "1", "x"); fmt.Sprint(chans) != "[d e f]" {
		t.Fatalf("follows of x: %v", chans)
	}
}

// testConcurrentFollows: racing follows of one row create it once, and
// racing new follows never take a user past the limit.
func testConcurrentFollows(t *testing.T, s store.Store) {
	var created atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "same"}, 100)
			if err != nil {
				t.Error(err)
			}
			if c {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d racing follows of one row reported created, want 1", created.Load())
	}
	var ok, refused atomic.Int32
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "v", Channel: fmt.Sprint("c", i)}, 5)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrTooManyFollows):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	chans, _ := s.FollowedBy(ctx, "1", "v")
	if ok.Load() != 5 || refused.Load() != 7 || len(chans) != 5 {
		t.Fatalf("12 racing follows with max 5: %d accepted, %d refused, %d stored", ok.Load(), refused.Load(), len(chans))
	}
}

func testFollowPaging(t *testing.T, s store.Store) {
	var want []string
	for u := 0; u < 5; u++ {
		for c := 0; c < 7; c++ {
			mustFollow(t, s, "1", fmt.Sprint("user", u), fmt.Sprint("ch", c))
			want = append(want, fmt.Sprint("user", u, "/ch", c))
		}
	}
	mustFollow(t, s, "2", "user0", "elsewhere")
	list := func(q store.FollowQuery) []string {
		var got []string
		for pages := 0; ; pages++ {
			page, next, err := s.ListFollows(ctx, "1", q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > q.Limit || pages > 50 {
				t.Fatalf("page of %d with limit %d, or paging does not end", len(page), q.Limit)
			}
			for _, f := range page {
				if f.AppID != "1" {
					t.Fatalf("listed another app's follow: %+v", f)
				}
				got = append(got, f.UserID+"/"+f.Channel)
			}
			if next == "" {
				return got
			}
			q.Cursor = next
		}
	}
	// Ordered by (user_id, channel); every row once, whatever the page size.
	for _, limit := range []int{1, 4, 7, 35, 1000} {
		if got := list(store.FollowQuery{Limit: limit}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: pages gave %v, want %v", limit, got, want)
		}
	}
	if got := list(store.FollowQuery{UserID: "user3", Limit: 3}); len(got) != 7 || got[0] != "user3/ch0" || got[6] != "user3/ch6" {
		t.Fatalf("filter by user: %v", got)
	}
	if got := list(store.FollowQuery{Channel: "ch2", Limit: 2}); fmt.Sprint(got) != "[user0/ch2 user1/ch2 user2/ch2 user3/ch2 user4/ch2]" {
		t.Fatalf("filter by channel: %v", got)
	}
	if got := list(store.FollowQuery{UserID: "user1", Channel: "ch5", Limit: 10}); fmt.Sprint(got) != "[user1/ch5]" {
		t.Fatalf("filter by both: %v", got)
	}
	// Out-of-range limits are clamped to 1..1000.
	if page, next, err := s.ListFollows(ctx, "1", store.FollowQuery{Limit: 0}); err != nil || len(page) != 1 || next == "" {
		t.Fatalf("limit 0: %d rows, next %q, %v; want 1 row and a cursor", len(page), next, err)
	}
	if _, _, err := s.ListFollows(ctx, "1", store.FollowQuery{Cursor: "%%%"}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("garbage cursor: %v, want ErrInvalidCursor", err)
	}
}
