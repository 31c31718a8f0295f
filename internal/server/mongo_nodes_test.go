package server

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

// Several pushi nodes share one MongoDB database (docs/storage.md): two
// server processes triggering concurrently on one channel must hand out
// disjoint seqs, so each node's REST history shows every acknowledged
// trigger exactly once, in strictly increasing seq order.
func TestMongoTwoNodesShareHistory(t *testing.T) {
	bin := pushiBinary(t)
	env := []string{"MONGO_URL=" + ferret.Start(t), "MONGO_DB=pushi_nodes", "PUSHI_APPS_FILE=" + writeApps(t, crashAppsJSON),
		"PUSHI_ADMIN_TOKEN=" + testAdminToken, "PUSHI_HANDLERS=0"}
	nodes := []*pushiProcess{startProcess(t, bin, env), startProcess(t, bin, env)}

	const senders, perSender, channel = 4, 50, "shared"
	type ack struct {
		data   string
		status int
	}
	acks := make(chan ack, len(nodes)*senders*perSender)
	var wg sync.WaitGroup
	start := time.Now()
	for n, p := range nodes {
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
				defer client.CloseIdleConnections()
				for i := 0; i < perSender; i++ {
					data := fmt.Sprintf("%d-%d-%d", n, g, i)
					body := []byte(fmt.Sprintf(`{"name":"e","channel":%q,"data":%q}`, channel, data))
					status, err := signedTrigger(client, p.apiURL, appCrash, body)
					if err != nil {
						t.Errorf("node %d trigger %s: %v", n, data, err)
						return
					}
					acks <- ack{data, status}
				}
			}()
		}
	}
	wg.Wait()
	close(acks)
	elapsed := time.Since(start)
	acked := map[string]bool{}
	for a := range acks {
		// Nothing fails here: both nodes and the database stay up.
		if a.status != http.StatusOK {
			t.Errorf("trigger %s: status %d", a.data, a.status)
			continue
		}
		acked[a.data] = true
	}
	if t.Failed() {
		t.Fatalf("logs:\n%s\n%s", nodes[0].output(), nodes[1].output())
	}

	var first []record
	for n, p := range nodes {
		s := &testServer{apiURL: p.apiURL}
		recs := s.pageAll(t, appCrash, "/channels/"+channel+"/events", "after", 100, url.Values{"after": {"0"}}, seqCursor)
		seen := seqByData(t, fmt.Sprintf("node %d: ", n), recs)
		for _, r := range recs {
			if !acked[r.Data] {
				t.Fatalf("node %d: record %s was never acknowledged", n, r.Data)
			}
		}
		if len(seen) != len(acked) {
			t.Fatalf("node %d: %d records for %d acknowledged triggers", n, len(seen), len(acked))
		}
		// Both nodes read the same database: the same records, same seqs.
		if n == 0 {
			first = recs
		} else if summary(recs) != summary(first) {
			t.Fatalf("the nodes disagree on the history")
		}
		if n == 0 && len(recs) > 0 {
			// FerretDB v1 may leave seq gaps (docs/storage.md); MongoDB would not.
			last := recs[len(recs)-1].Seq
			t.Logf("%d triggers from 2 nodes in %v; last seq %d (%d gaps)", len(acked), elapsed.Round(time.Millisecond), last, last-int64(len(recs)))
		}
	}
}
