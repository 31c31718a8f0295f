package server

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

// A MongoDB outage while persisted triggers flow: they answer 503 with a
// JSON error within the store's 5 s bound instead of hanging, triggers
// that store nothing keep answering 200 and WebSocket clients stay
// connected; once the database is reachable again persisted triggers
// succeed without a restart, and the history has every trigger that was
// answered 200 exactly once.
func TestMongoOutage(t *testing.T) {
	db, err := url.Parse(ferret.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.StartProxy(t, db.Host)
	s := startServer(t, map[string]string{"MONGO_URL": "mongodb://" + proxy.Addr() + "/", "MONGO_DB": "pushi_outage", "PUSHI_ADMIN_TOKEN": testAdminToken})
	c := s.connect(t, appBasic.key)
	c.subscribe("live", nil)

	// Senders trigger persisted events one after another, recording each
	// answer and how long it took.
	const senders, channel = 4, "stored"
	type answer struct {
		data   string
		status int
		took   time.Duration
		sent   time.Time
	}
	var mu sync.Mutex
	var answers []answer
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 15 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; !stop.Load(); i++ {
				data := fmt.Sprintf("%d-%d", g, i)
				body := []byte(fmt.Sprintf(`{"name":"e","channel":%q,"data":%q,"persist":true}`, channel, data))
				sent := time.Now()
				status, err := signedTrigger(client, s.apiURL, appBasic, body)
				if err != nil {
					t.Errorf("trigger %s: %v", data, err)
					return
				}
				mu.Lock()
				answers = append(answers, answer{data, status, time.Since(sent), sent})
				mu.Unlock()
				if status != http.StatusOK {
					time.Sleep(50 * time.Millisecond) // a client backing off
				}
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	time.Sleep(500 * time.Millisecond)
	proxy.Cut()
	cutAt := time.Now()

	// A persisted trigger during the outage: 503 with a JSON error, soon.
	status, body := s.trigger(t, appBasic.key, appBasic.secret, appBasic.id, map[string]any{"name": "e", "channel": channel, "data": "outage", "persist": true})
	if took := time.Since(cutAt); status != http.StatusServiceUnavailable || body["code"] != float64(503) || body["error"] == "" || took > 6500*time.Millisecond {
		t.Fatalf("persisted trigger during the outage: %d %v after %v", status, body, took)
	}
	// Triggers that store nothing are still delivered, to connected clients.
	for i := 0; i < 3; i++ {
		s.publish(t, appBasic, "live", "ping", fmt.Sprint(i))
		c.expectRaw(fmt.Sprintf(`{"event":"ping","channel":"live","data":"%d"}`, i))
	}
	c.pingPong()

	proxy.Resume()
	resumed := time.Now()
	testkit.Eventually(t, 10*time.Second, "a persisted trigger to succeed after the database came back", func() bool {
		status, _ := s.trigger(t, appBasic.key, appBasic.secret, appBasic.id, map[string]any{"name": "e", "channel": channel, "data": "back", "persist": true})
		return status == http.StatusOK
	})
	t.Logf("persisted triggers work again %v after the database came back", time.Since(resumed).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // the senders get through again too
	stop.Store(true)
	wg.Wait()
	c.pingPong()

	mu.Lock()
	defer mu.Unlock()
	acked, failed := map[string]bool{"back": true}, map[string]bool{"outage": true}
	var slowest time.Duration
	var okAfter, fails int
	for _, a := range answers {
		slowest = max(slowest, a.took)
		switch a.status {
		case http.StatusOK:
			acked[a.data] = true
			if a.sent.After(resumed) {
				okAfter++
			}
		case http.StatusServiceUnavailable:
			failed[a.data] = true
			fails++
		default:
			t.Fatalf("trigger %s: status %d", a.data, a.status)
		}
	}
	// No request hangs beyond the store's 5 s bound (plus slack for -race).
	if slowest > 6500*time.Millisecond || fails == 0 || okAfter == 0 {
		t.Fatalf("slowest answer %v, %d answered 503, %d answered 200 after the outage", slowest, fails, okAfter)
	}

	recs := s.pageAll(t, appBasic, "/channels/"+channel+"/events", "after", 100, url.Values{"after": {"0"}}, seqCursor)
	seqs := seqByData(t, "", recs)
	for _, r := range recs {
		// A 503 may come after the write reached the database (the answer
		// was lost), so a failed trigger may be stored, but never an unsent one.
		if !acked[r.Data] && !failed[r.Data] {
			t.Fatalf("record %s was never answered", r.Data)
		}
	}
	for d := range acked {
		if _, ok := seqs[d]; !ok {
			t.Fatalf("trigger %s answered 200 but is not in the history", d)
		}
	}
	t.Logf("%d answered 200, %d answered 503 (slowest answer %v), %d records", len(acked), fails, slowest.Round(time.Millisecond), len(recs))
}

// The persistence path end to end on MongoDB: a persisted trigger's live
// frame matches its REST record, pushi:latest reads it back, a follower's
// inbox has it, and subscribing with since or history replays it.
func TestMongoPersistenceBasics(t *testing.T) {
	s := startServer(t, map[string]string{"MONGO_URL": ferret.Start(t), "MONGO_DB": "pushi_basics", "PUSHI_ADMIN_TOKEN": testAdminToken})
	s.followAPI(t, appBasic, true, "ann", "news")
	c := s.connect(t, appBasic.key)
	c.subscribe("news", nil)
	var live []liveStored
	for i := 0; i < 3; i++ {
		s.triggerOK(t, appBasic, map[string]any{"name": "e", "channel": "news", "data": fmt.Sprint(i), "persist": true})
		live = append(live, c.expectStoredFrame(fmt.Sprintf(`{"event":"e","channel":"news","data":"%d"}`, i)))
	}
	s.triggerOK(t, appBasic, map[string]any{"name": "e", "channel": "news", "data": "not stored"})
	c.expectRaw(`{"event":"e","channel":"news","data":"not stored"}`)

	recs := s.channelHistory(t, appBasic, "news")
	if summary(recs) != "e/0@1 e/1@2 e/2@3" {
		t.Fatalf("history %s", summary(recs))
	}
	for i, r := range recs {
		checkLive(t, r, live[i])
		if r.Source != "api" || r.Channel != "news" {
			t.Fatalf("record %+v", r)
		}
	}
	inbox, more := s.historyPage(t, appBasic, "/users/ann/events", nil)
	if summary(inbox) != "e/2@3 e/1@2 e/0@1" || more || inbox[0].MID != live[2].mid {
		t.Fatalf("ann's inbox %s more=%v", summary(inbox), more)
	}

	c.send("pushi:latest", map[string]any{"channel": "news", "count": 2})
	if r := c.expectLatest("pushi_internal:latest", "news"); len(r.Events) != 2 || r.Events[0]["mid"] != live[2].mid || r.Events[1]["seq"] != float64(2) || !r.More {
		t.Fatalf("pushi:latest %+v", r)
	}
	c.send("pushi:latest", map[string]any{"channel": "news", "since": 2})
	if r := c.expectLatest("pushi_internal:latest", "news"); len(r.Events) != 1 || r.Events[0]["mid"] != live[2].mid || r.More {
		t.Fatalf("pushi:latest since 2 %+v", r)
	}

	h := s.connect(t, appBasic.key)
	h.subscribe("news", map[string]any{"since": 1})
	if got := h.expectStoredFrame(`{"event":"e","channel":"news","data":"1"}`); got != live[1] {
		t.Fatalf("replayed %+v, live was %+v", got, live[1])
	}
	if got := h.expectStoredFrame(`{"event":"e","channel":"news","data":"2"}`); got != live[2] {
		t.Fatalf("replayed %+v, live was %+v", got, live[2])
	}
	if d := h.expectReplayDone(); d != (replayDone{"news", 2, 3, true}) {
		t.Fatalf("replay_done %+v", d)
	}
	h2 := s.connect(t, appBasic.key)
	h2.subscribe("news", map[string]any{"history": 1})
	if got := h2.expectStoredFrame(`{"event":"e","channel":"news","data":"2"}`); got != live[2] {
		t.Fatalf("history replay %+v, live was %+v", got, live[2])
	}
	if d := h2.expectReplayDone(); d != (replayDone{"news", 1, 3, false}) {
		t.Fatalf("history replay_done %+v", d)
	}
	// Live persisted events follow the replay, once, on every subscriber.
	s.triggerOK(t, appBasic, map[string]any{"name": "e", "channel": "news", "data": "3", "persist": true})
	for _, x := range []*wsClient{c, h, h2} {
		if got := x.expectStoredFrame(`{"event":"e","channel":"news","data":"3"}`); got.seq != 4 {
			t.Fatalf("seq %d after the replay, want 4", got.seq)
		}
		x.pingPong()
	}
}
