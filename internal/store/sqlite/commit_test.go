package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
)

// holdWriter takes the one writer connection, so the committer blocks in
// its next transaction and Appends pile up in the queue. release gives
// the connection back.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	conn, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { conn.Close() }) }
	t.Cleanup(release)
	return release
}

type result struct {
	name   string
	out    []store.Event
	err    error
	called int
}

// appendAsync starts an Append and returns where its result will arrive.
func appendAsync(s *Store, ctx context.Context, event string) chan result {
	ch := make(chan result, 1)
	go func() {
		r := result{name: event}
		r.out, r.err = s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: event, Source: "api"},
			func([]store.Event) { r.called++ })
		ch <- r
	}()
	return ch
}

// blockCommitter queues a first Append and waits until the committer has
// taken it and is waiting for the held writer connection.
func blockCommitter(t *testing.T, s *Store) chan result {
	t.Helper()
	waits := s.w.Stats().WaitCount
	first := appendAsync(s, ctx, "first")
	testkit.Eventually(t, 5*time.Second, "the committer to wait for the writer", func() bool { return s.w.Stats().WaitCount > waits })
	return first
}

// TestGroupFailureIsolated: a trigger that fails inside a group commit
// fails alone; the others of its group are committed, report success and
// run their callbacks once, in seq order.
func TestGroupFailureIsolated(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pushi.db"))
	t.Cleanup(func() { s.Close() }) // after holdWriter's release: cleanups run last first
	if _, err := s.w.Exec(`CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.event = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	first := blockCommitter(t, s)
	var rest []chan result
	for i, name := range []string{"a", "b", "boom", "d"} {
		rest = append(rest, appendAsync(s, ctx, name))
		testkit.Eventually(t, 5*time.Second, "the queue", func() bool { return s.commits.Queued() == i+1 })
	}
	release()
	if r := <-first; r.err != nil || r.called != 1 || r.out[0].Seq != 1 {
		t.Fatalf("first: %+v", r)
	}
	var seqs []int64
	for _, ch := range rest {
		r := <-ch
		if r.name == "boom" {
			if r.err == nil || r.called != 0 || r.out != nil {
				t.Fatalf("the failing trigger: %+v", r)
			}
			continue
		}
		if r.err != nil || r.called != 1 || len(r.out) != 1 {
			t.Fatalf("%s, committed beside a failing trigger: %+v", r.name, r)
		}
		seqs = append(seqs, r.out[0].Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" {
		t.Fatalf("seqs of the group's survivors: %v, want [2 3 4]", seqs)
	}
	got, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, Limit: 10})
	var names []string
	for _, e := range got {
		names = append(names, e.Event)
	}
	if fmt.Sprint(names) != "[first a b d]" {
		t.Fatalf("stored %v", names)
	}
}

// TestCancelWhileQueued: a caller whose context ends while its trigger
// waits in the queue returns at once, and the trigger is never written.
func TestCancelWhileQueued(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pushi.db"))
	t.Cleanup(func() { s.Close() }) // after holdWriter's release: cleanups run last first
	release := holdWriter(t, s)
	first := blockCommitter(t, s)
	cctx, cancel := context.WithCancel(ctx)
	queued := appendAsync(s, cctx, "canceled")
	testkit.Eventually(t, 5*time.Second, "the queue", func() bool { return s.commits.Queued() == 1 })
	cancel()
	select {
	case r := <-queued:
		if !errors.Is(r.err, context.Canceled) || r.called != 0 {
			t.Fatalf("canceled while queued: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a canceled Append waited for the committer")
	}
	release()
	if r := <-first; r.err != nil || r.out[0].Seq != 1 {
		t.Fatalf("first: %+v", r)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "next", Source: "api"}, nil)
	if err != nil || out[0].Seq != 2 {
		t.Fatalf("next: %+v %v (the canceled trigger must not take a seq)", out, err)
	}
	if got, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); len(got) != 2 {
		t.Fatalf("stored %d records, want 2", len(got))
	}
}

// TestCancelAfterTaken: once the committer took a trigger, a canceled
// caller still learns the outcome (the record exists).
func TestCancelAfterTaken(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pushi.db"))
	t.Cleanup(func() { s.Close() }) // after holdWriter's release: cleanups run last first
	release := holdWriter(t, s)
	waits := s.w.Stats().WaitCount
	cctx, cancel := context.WithCancel(ctx)
	taken := appendAsync(s, cctx, "taken")
	testkit.Eventually(t, 5*time.Second, "the committer to wait for the writer", func() bool { return s.w.Stats().WaitCount > waits })
	cancel()
	select {
	case r := <-taken:
		t.Fatalf("returned before the outcome was known: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if r := <-taken; r.err != nil || r.called != 1 || r.out[0].Seq != 1 {
		t.Fatalf("taken then canceled: %+v", r)
	}
}

// TestCloseDrains: Close while Appends are in flight: each either
// succeeded, and is on disk after reopening, or failed with ErrUnavailable;
// none hangs.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pushi.db")
	s := open(t, path)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil)
				if errors.Is(err, store.ErrUnavailable) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = open(t, path)
	defer s.Close()
	last, _ := s.LastSeq(ctx, "1", "c")
	got, _, _ := s.Events(ctx, "1", "c", store.EventQuery{Limit: 1000})
	if int(last) != ok || len(got) != ok {
		t.Fatalf("%d Appends succeeded; after reopening: last seq %d, %d records", ok, last, len(got))
	}
}
