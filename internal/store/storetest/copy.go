package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// RunCopy fills a store from `from` with every kind of row (a trimmed
// channel among them), copies it into a store from `to`, and checks that
// the target holds the same rows and carries on where the source stopped.
// Both stores must implement store.Dumper and store.Loader.
func RunCopy(t *testing.T, from, to Opener) {
	src, dst := from(t), to(t)
	t.Cleanup(func() { src.Close(); dst.Close() })
	fillForCopy(t, src)
	want := record(t, src)

	// A copy failing at the inbox rows, after every other kind was
	// written, leaves the target empty, so it can simply be rerun.
	boom := errors.New("boom")
	if _, err := store.Copy(ctx, failAtInbox{src.(store.Dumper), boom}, dst.(store.Loader)); !errors.Is(err, boom) {
		t.Fatalf("failing Copy: %v, want its dump's error", err)
	}
	if empty, err := dst.(store.Loader).Empty(ctx); !empty || err != nil {
		t.Fatalf("target after a failed copy: empty=%v %v", empty, err)
	}

	counts, err := store.Copy(ctx, src.(store.Dumper), dst.(store.Loader))
	if err != nil {
		t.Fatal("Copy:", err)
	}
	if c := (store.Counts{Apps: 2, Meta: 2, Follows: 4, Sequences: 4, Events: 9, Inbox: 9}); counts != c {
		t.Fatalf("counts %v, want %v", counts, c)
	}
	got := record(t, dst)
	for kind, rows := range want {
		if !slices.Equal(rows, got[kind]) {
			t.Errorf("%s rows differ:\nsource %q\ntarget %q", kind, rows, got[kind])
		}
	}
	checkCopied(t, src, dst)
	if _, err := store.Copy(ctx, src.(store.Dumper), dst.(store.Loader)); !errors.Is(err, store.ErrTargetNotEmpty) {
		t.Fatalf("second Copy into the same target: %v, want ErrTargetNotEmpty", err)
	}
}

var copyFollowed = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fillForCopy(t *testing.T, s store.Store) {
	a := newApp("1", "one")
	a.PreviousSecret, a.PreviousValidUntil, a.FromConfig = "old-secret", time.UnixMilli(1_900_000_000_123), true
	for _, app := range []store.StoredApp{a, newApp("2", "two")} {
		if err := s.CreateApp(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{"admin_token": "tok", "other": "x"} {
		if _, err := s.SetMetaIfAbsent(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range [][3]string{{"1", "ann", "c"}, {"1", "ann", "d"}, {"1", "bob", "c"}, {"2", "ann", "c"}} {
		if _, _, err := s.Follow(ctx, store.Follow{AppID: f[0], UserID: f[1], Channel: f[2], CreatedAt: copyFollowed}, 3); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		mustAppend(t, s, store.Trigger{AppID: "1", Channels: []string{"c", "d"}, Event: fmt.Sprint("e", i), Data: fmt.Sprintf(`{"i":%d}`, i),
			Source: "client", SocketID: "1.2", UserID: "u"})
	}
	mustAppend(t, s, trigger("1", "p", "personal-bob"))
	mustAppend(t, s, trigger("2", "x", "c"))
	mustAppend(t, s, trigger("2", "y", "c"))
	// Keep 3 per channel: c and d keep seqs 3..5, their counters stay at 5.
	if _, err := s.Trim(ctx, "1", store.Retention{MaxEventsPerChannel: 3}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// checkCopied reads the target through the Store interface and appends
// to it: seqs, inbox order and the follow limit carry on.
func checkCopied(t *testing.T, src, dst store.Store) {
	a, err := dst.App(ctx, "1")
	if err != nil || a.PreviousSecret != "old-secret" || a.PreviousValidUntil.UnixMilli() != 1_900_000_000_123 || !a.FromConfig || a.App.Secret != "secret-1" {
		t.Fatalf("app: %+v %v", a, err)
	}
	if v, ok, err := dst.Meta(ctx, "admin_token"); v != "tok" || !ok || err != nil {
		t.Fatalf("meta: %q %v %v", v, ok, err)
	}
	fs, _, err := dst.ListFollows(ctx, "1", store.FollowQuery{UserID: "ann", Limit: 10})
	if err != nil || len(fs) != 2 || !fs[0].CreatedAt.Equal(copyFollowed) {
		t.Fatalf("follows: %+v %v", fs, err)
	}
	before, after := all(t, src, "1", "c"), all(t, dst, "1", "c")
	if len(after) != 3 || len(before) != 3 {
		t.Fatalf("channel c: %d records copied, source %d", len(after), len(before))
	}
	for i := range before {
		if !sameRecord(before[i], after[i]) {
			t.Fatalf("record %d: %+v, source %+v", i, after[i], before[i])
		}
	}
	if last, _ := dst.LastSeq(ctx, "1", "c"); last != 5 {
		t.Fatalf("LastSeq = %d, want 5", last)
	}
	if oldest, _ := dst.OldestSeq(ctx, "1", "c"); oldest != 3 {
		t.Fatalf("OldestSeq = %d, want 3", oldest)
	}
	oldInbox := inbox(t, src, "1", "ann")
	if got := inbox(t, dst, "1", "ann"); names(got) != "[e4 e3 e2]" || names(oldInbox) != names(got) || got[0].MID != oldInbox[0].MID {
		t.Fatalf("inbox %s, source %s", names(got), names(oldInbox))
	}
	out := mustAppend(t, dst, trigger("1", "next", "c"))
	if out[0].Seq != 6 {
		t.Fatalf("first seq after copy = %d, want 6", out[0].Seq)
	}
	if got := inbox(t, dst, "1", "ann"); names(got) != "[next e4 e3 e2]" || got[0].MID <= oldInbox[0].MID {
		t.Fatalf("inbox after an append on the target: %s", names(got))
	}
	if out := mustAppend(t, dst, trigger("1", "p2", "personal-bob")); out[0].Seq != 2 {
		t.Fatalf("personal-bob seq after copy = %d, want 2", out[0].Seq)
	}
	// ann holds 2 of max 3 follows: one more fits, the next does not.
	if _, created, err := dst.Follow(ctx, store.Follow{AppID: "1", UserID: "ann", Channel: "e"}, 3); err != nil || !created {
		t.Fatalf("third follow: %v %v", created, err)
	}
	if _, _, err := dst.Follow(ctx, store.Follow{AppID: "1", UserID: "ann", Channel: "f"}, 3); !errors.Is(err, store.ErrTooManyFollows) {
		t.Fatalf("fourth follow of max 3: %v", err)
	}
}

// record dumps s into sorted lines per kind, times in integer units.
func record(t *testing.T, s store.Store) map[string][]string {
	r := recorder{}
	if err := s.(store.Dumper).Dump(ctx, r); err != nil {
		t.Fatal("Dump:", err)
	}
	for _, rows := range r {
		slices.Sort(rows)
	}
	return r
}

type recorder map[string][]string

func (r recorder) add(kind string, v ...any) error {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%#v", x)
	}
	r[kind] = append(r[kind], strings.Join(parts, " "))
	return nil
}

func (r recorder) App(a store.StoredApp) error {
	body, err := json.Marshal(a.App)
	if err != nil {
		return err
	}
	var until int64
	if !a.PreviousValidUntil.IsZero() {
		until = a.PreviousValidUntil.UnixMilli()
	}
	return r.add("apps", string(body), a.PreviousSecret, until, a.FromConfig)
}

func (r recorder) Meta(k, v string) error { return r.add("meta", k, v) }

func (r recorder) Follow(f store.Follow) error {
	return r.add("follows", f.AppID, f.UserID, f.Channel, f.CreatedAt.Unix())
}

func (r recorder) Sequence(app, ch string, last int64) error {
	return r.add("sequences", app, ch, last)
}

func (r recorder) Event(e store.Event) error {
	return r.add("events", e.MID, e.AppID, e.Channel, e.Seq, e.Timestamp.UnixMilli(), e.Event, e.Data, e.Source, e.SocketID, e.UserID)
}

func (r recorder) Inbox(in store.InboxRow) error {
	return r.add("inbox", in.AppID, in.UserID, in.MID, in.Channel, in.Seq, in.Timestamp.UnixMilli())
}

// failAtInbox dumps everything up to the first inbox row, then fails.
type failAtInbox struct {
	d   store.Dumper
	err error
}

func (f failAtInbox) Dump(ctx context.Context, w store.DumpWriter) error {
	return f.d.Dump(ctx, inboxFails{w, f.err})
}

type inboxFails struct {
	store.DumpWriter
	err error
}

func (f inboxFails) Inbox(store.InboxRow) error { return f.err }
