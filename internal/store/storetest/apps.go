package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

func testApps(t *testing.T, s store.Store) {
	a := newApp("100", "one")
	a.App.Persistence.Default = true
	a.App.Persistence.Prefixes = []string{"news-"}
	a.App.WebPush.VAPIDPrivateKey = "write-only"
	a.PreviousSecret, a.PreviousValidUntil = "old", time.UnixMilli(1_800_000_000_123)
	if err := s.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.App(ctx, "100")
	if err != nil {
		t.Fatal(err)
	}
	if !got.App.Persistence.Default || fmt.Sprint(got.App.Persistence.Prefixes) != "[news-]" || got.App.Secret != "secret-100" ||
		got.App.Key != "key-100" || got.App.Name != "one" || got.App.WebPush.VAPIDPrivateKey != "write-only" ||
		got.PreviousSecret != "old" || !got.PreviousValidUntil.Equal(a.PreviousValidUntil) || got.FromConfig {
		t.Fatalf("app did not round-trip: %+v", got)
	}
	if _, err := s.App(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown app: %v, want ErrNotFound", err)
	}
	a.App.Name, a.App.Secret, a.FromConfig = "renamed", "new-secret", true
	a.PreviousSecret, a.PreviousValidUntil = "", time.Time{}
	if err := s.PutApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, _ = s.App(ctx, "100")
	if got.App.Name != "renamed" || got.App.Secret != "new-secret" || !got.FromConfig || got.PreviousSecret != "" || !got.PreviousValidUntil.IsZero() {
		t.Fatalf("PutApp did not replace the whole app: %+v", got)
	}
	if err := s.PutApp(ctx, newApp("099", "zero")); err != nil {
		t.Fatal("PutApp of a new id must insert:", err)
	}
	if _, err := s.App(ctx, "099"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "100"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App(ctx, "100"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted app: %v", err)
	}
	if err := s.DeleteApp(ctx, "100"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	// The deleted app's key and name are free again.
	if err := s.CreateApp(ctx, newApp("100", "renamed")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func testAppConflicts(t *testing.T, s store.Store) {
	if err := s.CreateApp(ctx, newApp("1", "one")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, newApp("2", "two")); err != nil {
		t.Fatal(err)
	}
	sameKey := newApp("3", "three")
	sameKey.App.Key = "key-1"
	for _, c := range []struct {
		what string
		a    store.StoredApp
	}{{"id", newApp("1", "other")}, {"name", newApp("3", "one")}, {"key", sameKey}} {
		if err := s.CreateApp(ctx, c.a); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateApp with a taken %s: %v, want ErrConflict", c.what, err)
		}
	}
	// PutApp replaces by id, but may not take another app's key or name.
	takeName := newApp("2", "one")
	if err := s.PutApp(ctx, takeName); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutApp taking another app's name: %v, want ErrConflict", err)
	}
	takeKey := newApp("2", "two")
	takeKey.App.Key = "key-1"
	if err := s.PutApp(ctx, takeKey); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutApp taking another app's key: %v, want ErrConflict", err)
	}
	if got, err := s.App(ctx, "2"); err != nil || got.App.Name != "two" || got.App.Key != "key-2" {
		t.Fatalf("a refused PutApp changed the app: %+v %v", got, err)
	}
	if _, err := s.App(ctx, "3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused CreateApp stored something: %v", err)
	}
}

func testAppPaging(t *testing.T, s store.Store) {
	want := []string{"a", "b", "c", "d", "e"}
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		if err := s.CreateApp(ctx, newApp(id, "name-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for after, pages := "", 0; ; pages++ {
		page, err := s.ListApps(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || pages > 5 {
			t.Fatalf("page of %d with limit 2, or paging does not end", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			ids = append(ids, a.App.ID)
		}
		after = page[len(page)-1].App.ID
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ListApps pages: %v, want %v", ids, want)
	}
	if page, _ := s.ListApps(ctx, "b", 100); len(page) != 3 || page[0].App.ID != "c" {
		t.Fatalf("ListApps after b: %d apps", len(page))
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
		if v != got[0] || v == "" {
			t.Fatalf("concurrent first writers disagree: %v", got)
		}
	}
	if v, ok, _ := s.Meta(ctx, "k"); !ok || v != got[0] {
		t.Fatalf("Meta = %q, %v, want %q", v, ok, got[0])
	}
	if v, err := s.SetMetaIfAbsent(ctx, "k", "later"); err != nil || v != got[0] {
		t.Fatalf("SetMetaIfAbsent on a set key = %q %v, want the first value", v, err)
	}
	if v, err := s.SetMetaIfAbsent(ctx, "other", "x"); err != nil || v != "x" {
		t.Fatalf("keys are independent: %q %v", v, err)
	}
	// SwapMeta is compare-and-set: a swap from the stored value wins, one
	// from a stale value or of an absent key changes nothing. (Racing
	// swaps are not tested: FerretDB v1, the test server, applies an
	// update as read-then-replace, so there two of them can both win.)
	if ok, err := s.SwapMeta(ctx, "k", got[0], "new"); !ok || err != nil {
		t.Fatalf("swap from the stored value: %v %v", ok, err)
	}
	if ok, err := s.SwapMeta(ctx, "k", got[0], "stale"); ok || err != nil {
		t.Fatalf("swap from a stale value: %v %v", ok, err)
	}
	if ok, err := s.SwapMeta(ctx, "absent", "", "x"); ok || err != nil {
		t.Fatalf("swap of an absent key: %v %v", ok, err)
	}
	if _, found, _ := s.Meta(ctx, "absent"); found {
		t.Fatal("a failed swap created the key")
	}
	if v, _, _ := s.Meta(ctx, "k"); v != "new" {
		t.Fatalf("a failed swap changed the value: %q, want new", v)
	}
}
