package server

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// persistN triggers n persisted events "e0".."e{n-1}" on channel.
func (s *testServer) persistN(t testing.TB, a testApp, channel string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if status, body := s.trigger(t, a.key, a.secret, a.id, map[string]any{"name": "e", "channel": channel, "data": fmt.Sprint(i), "persist": true}); status != 200 {
			t.Fatalf("persisted trigger: %d %v", status, body)
		}
	}
}

type replayDone struct {
	Channel  string `json:"channel"`
	Count    int    `json:"count"`
	LastSeq  int64  `json:"last_seq"`
	Complete bool   `json:"complete"`
}

func (c *wsClient) expectReplayDone() replayDone {
	c.t.Helper()
	f := c.expectEvent("pushi_internal:replay_done")
	var d replayDone
	if err := json.Unmarshal([]byte(f.dataString(c.t)), &d); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// since and history replay stored records after subscription_succeeded,
// oldest first, as ordinary persisted frames, then replay_done (docs/features.md §7.2).
func TestReplayOnSubscribe(t *testing.T) {
	s := startServer(t, nil)
	s.persistN(t, appBasic, "news", 5)

	c := s.connect(t, appBasic.key)
	c.subscribe("news", map[string]any{"since": 2})
	for i := 2; i < 5; i++ {
		if seq := c.expectStored(fmt.Sprintf(`{"event":"e","channel":"news","data":"%d"}`, i)); seq != int64(i+1) {
			t.Fatalf("replayed seq %d, want %d", seq, i+1)
		}
	}
	if d := c.expectReplayDone(); d != (replayDone{"news", 3, 5, true}) {
		t.Fatalf("replay_done %+v", d)
	}

	h := s.connect(t, appBasic.key)
	h.subscribe("news", map[string]any{"history": 2})
	h.expectStored(`{"event":"e","channel":"news","data":"3"}`)
	h.expectStored(`{"event":"e","channel":"news","data":"4"}`)
	if d := h.expectReplayDone(); d != (replayDone{"news", 2, 5, false}) {
		t.Fatalf("history replay_done %+v (older records exist: complete=false)", d)
	}

	// since at the head: nothing to send, complete.
	c2 := s.connect(t, appBasic.key)
	c2.subscribe("news", map[string]any{"since": 5})
	if d := c2.expectReplayDone(); d != (replayDone{"news", 0, 5, true}) {
		t.Fatalf("replay_done at head %+v", d)
	}
	// Live events flow after the replay, once.
	s.persistN(t, appBasic, "news", 1)
	c2.expectStored(`{"event":"e","channel":"news","data":"0"}`)
	c2.pingPong()

	// Wrong types and ranges fail the subscribe with 400 InvalidData.
	bad := s.connect(t, appBasic.key)
	for _, extra := range []map[string]any{{"since": "3"}, {"since": -1}, {"history": 0}, {"history": 101}, {"history": 1.5}} {
		data := map[string]any{"channel": "news"}
		for k, v := range extra {
			data[k] = v
		}
		bad.send("pusher:subscribe", data)
		bad.expectSubError("news", "InvalidData", 400)
	}
}

// Events published while a socket subscribes with since are neither lost
// nor doubled: replay and live frames together are seq 1..N exactly once.
func TestReplayHoldsLiveEvents(t *testing.T) {
	s := startServer(t, nil)
	const total = 80
	s.persistN(t, appBasic, "busy", 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.persistN(t, appBasic, "busy", total-10)
	}()
	c := s.connect(t, appBasic.key)
	c.subscribe("busy", map[string]any{"since": 0})
	var seqs []int64
	for len(seqs) < total {
		f := c.next()
		if f.Event == "pushi_internal:replay_done" {
			continue
		}
		m := storedSuffix.FindStringSubmatch(f.raw)
		if f.Event != "e" || m == nil {
			t.Fatalf("unexpected frame %s", f.raw)
		}
		var seq int64
		fmt.Sscan(m[1], &seq)
		seqs = append(seqs, seq)
	}
	wg.Wait()
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("frame %d has seq %d: got %v", i, seq, seqs)
		}
	}
	c.expectNothing(100e6)
}
