package mongo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/storetest"
	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

// The tests share one FerretDB (ferret.Shared) and keep apart by
// database name.
func TestMain(m *testing.M) { ferret.Main(m) }

var dbSeq atomic.Int64

// freshDB names a database no other opener used.
func freshDB() string { return fmt.Sprintf("t%d_%d", time.Now().UnixNano()%1e9, dbSeq.Add(1)) }

// openTest opens a store on db with the production options (FerretDB
// accepts the majority+journal write concern and ignores it).
func openTest(tb testing.TB, db string) *Store {
	return openWith(tb, db, Options{})
}

func openWith(tb testing.TB, db string, o Options) *Store {
	tb.Helper()
	s, err := OpenWith(context.Background(), ferret.Shared(tb), db, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, freshDB()) })
}

// TestTwoNodes: two stores on one database appending on one channel get
// distinct seqs, each store's strictly increasing in commit order, and
// every record Append returned is stored. FerretDB's updates are not
// atomic, so its counter can lose increments: the unique seq index and a
// retry keep seqs distinct, but gaps may appear there (as after failed
// writes), so the test does not ask for 1..N.
func TestTwoNodes(t *testing.T) {
	db := freshDB()
	// The second node writes without the journal option: both kinds share
	// one database.
	nodes := []*Store{openTest(t, db), openWith(t, db, Options{NoJournal: true})}
	const writers, each = 4, 30
	var mu sync.Mutex
	returned := map[int64]string{}
	var wg sync.WaitGroup
	for n, s := range nodes {
		var cbMu sync.Mutex
		var last int64
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					data := fmt.Sprint(n, "-", w, "-", i)
					out, err := s.Append(context.Background(), store.Trigger{AppID: "1", Channels: []string{"hot"}, Event: "e", Data: data, Source: "api"},
						func(evs []store.Event) {
							cbMu.Lock()
							defer cbMu.Unlock()
							if evs[0].Seq <= last {
								t.Errorf("node %d: callback seq %d after %d", n, evs[0].Seq, last)
							}
							last = evs[0].Seq
						})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := returned[out[0].Seq]; dup {
						t.Errorf("seq %d given to %s and %s", out[0].Seq, prev, data)
					}
					returned[out[0].Seq] = data
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	const total = 2 * writers * each
	stored, more, err := nodes[1].Events(context.Background(), "1", "hot", store.EventQuery{Forward: true, Limit: 1000})
	if err != nil || more || len(stored) != total || len(returned) != total {
		t.Fatalf("stored %d records (more=%v, %v), returned %d, want %d", len(stored), more, err, len(returned), total)
	}
	for i, e := range stored {
		if i > 0 && e.Seq <= stored[i-1].Seq {
			t.Fatalf("stored seq %d after %d", e.Seq, stored[i-1].Seq)
		}
		if returned[e.Seq] != e.Data {
			t.Fatalf("seq %d stored %q, Append returned it for %q", e.Seq, e.Data, returned[e.Seq])
		}
	}
	if last, _ := nodes[0].LastSeq(context.Background(), "1", "hot"); last < stored[total-1].Seq {
		t.Fatalf("LastSeq %d is behind the stored %d", last, stored[total-1].Seq)
	}
}
