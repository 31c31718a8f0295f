package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Reading history (docs/features.md §7): REST paging, the user inbox, pushi:latest,
// retention, and bad input that must store nothing.

// pageAll follows a REST history route's cursor (the last seq or mid) and
// returns every record in page order, checking each page's size and more.
func (s *testServer) pageAll(t testing.TB, a testApp, path, cursor string, limit int, first url.Values, next func(record) string) []record {
	t.Helper()
	q := first
	var all []record
	for pages := 0; ; pages++ {
		q.Set("limit", strconv.Itoa(limit))
		recs, more := s.historyPage(t, a, path, q)
		if len(recs) > limit || (more && len(recs) != limit) || pages > 100 {
			t.Fatalf("page %d of %s: %d records, more %v", pages, path, len(recs), more)
		}
		all = append(all, recs...)
		if !more {
			return all
		}
		q = url.Values{cursor: {next(recs[len(recs)-1])}}
	}
}

func seqCursor(r record) string { return strconv.FormatInt(r.Seq, 10) }

// Paging backward (before) and forward (after) covers every record exactly
// once, in order, with more false exactly on the last page.
func TestHistoryPaging(t *testing.T) {
	s := startPersistServer(t, nil)
	const n = 23
	s.persistN(t, appStore, "news-p", n)
	path := "/channels/news-p/events"

	for _, limit := range []int{1, 5, 7, 23, 1000} { // partial and exact last pages
		back := s.pageAll(t, appStore, path, "before", limit, url.Values{}, seqCursor)
		fwd := s.pageAll(t, appStore, path, "after", limit, url.Values{"after": {"0"}}, seqCursor)
		if len(back) != n || len(fwd) != n {
			t.Fatalf("limit %d: %d backward, %d forward records", limit, len(back), len(fwd))
		}
		for i := 0; i < n; i++ {
			if b, f := back[i], fwd[i]; b.Seq != int64(n-i) || f.Seq != int64(i+1) || f.Data != strconv.Itoa(i) || b.MID != fwd[n-1-i].MID {
				t.Fatalf("limit %d, record %d: backward %+v, forward %+v", limit, i, b, f)
			}
		}
	}
	// Default limit 50; cursors are exclusive.
	if recs, more := s.historyPage(t, appStore, path, nil); len(recs) != n || more || recs[0].Seq != n {
		t.Fatalf("default page: %d records, more %v", len(recs), more)
	}
	if recs, more := s.historyPage(t, appStore, path, url.Values{"after": {"21"}}); summary(recs) != "e/21@22 e/22@23" || more {
		t.Fatalf("after 21: %s %v", summary(recs), more)
	}
	if recs, more := s.historyPage(t, appStore, path, url.Values{"before": {"23"}, "limit": {"2"}}); summary(recs) != "e/21@22 e/20@21" || !more {
		t.Fatalf("before 23 limit 2: %s %v", summary(recs), more)
	}
	if recs, more := s.historyPage(t, appStore, path, url.Values{"before": {"3"}}); summary(recs) != "e/1@2 e/0@1" || more {
		t.Fatalf("before 3: %s %v", summary(recs), more)
	}
	for _, q := range []url.Values{{"before": {"1"}}, {"before": {"0"}}, {"after": {"23"}}, {"after": {"99"}}} {
		if recs, more := s.historyPage(t, appStore, path, q); len(recs) != 0 || more {
			t.Fatalf("%v: %s %v", q, summary(recs), more)
		}
	}
	// A channel that never had a record.
	if recs, _ := s.historyPage(t, appStore, "/channels/empty/events", nil); len(recs) != 0 {
		t.Fatalf("empty channel: %+v", recs)
	}
}

// The inbox: one row per follower per trigger (the first followed channel),
// personal-<user> reaches its owner; read newest first with a mid cursor,
// over REST and through pushi:latest on the held personal channel.
func TestHistoryInbox(t *testing.T) {
	s := startPersistServer(t, nil)
	s.followAPI(t, appStore, true, "ann", "news-a")
	s.followAPI(t, appStore, true, "ann", "plain")
	s.followAPI(t, appStore, true, "bob", "plain")

	s.triggerOK(t, appStore, map[string]any{"name": "both", "channels": []string{"plain", "news-a"}, "data": "1", "persist": true})
	s.triggerOK(t, appStore, map[string]any{"name": "self", "channel": "personal-ann", "data": "2", "persist": true})
	s.triggerOK(t, appStore, map[string]any{"name": "live", "channel": "plain", "data": "3"}) // not stored: no inbox row
	s.triggerOK(t, appStore, map[string]any{"name": "news", "channel": "news-a", "data": "4"})
	s.triggerOK(t, appStore, map[string]any{"name": "other", "channel": "news-b", "data": "5"})

	path := "/users/ann/events"
	mid := func(r record) string { return r.MID }
	for _, limit := range []int{1, 2, 50} {
		got := s.pageAll(t, appStore, path, "before", limit, url.Values{}, mid)
		if summary(got) != "news/4@2 self/2@1 both/1@1" || got[2].Channel != "plain" {
			t.Fatalf("ann's inbox, limit %d: %s", limit, summary(got))
		}
	}
	if got := s.pageAll(t, appStore, "/users/bob/events", "before", 50, url.Values{}, mid); summary(got) != "both/1@1" || got[0].Channel != "plain" {
		t.Fatalf("bob's inbox: %s", summary(got))
	}
	if got, more := s.historyPage(t, appStore, "/users/nobody/events", nil); len(got) != 0 || more {
		t.Fatalf("inbox of a user without follows: %+v", got)
	}

	// The same inbox through the personal channel.
	c := s.connect(t, appStore.key)
	c.signin(appStore, `{"id":"ann"}`)
	c.subscribe("personal-ann", map[string]any{"auth": ""})
	c.send("pushi:latest", map[string]any{"channel": "personal-ann", "skip": 1, "count": 5})
	r := c.expectLatest("pushi_internal:latest", "personal-ann")
	if len(r.Events) != 2 || r.Events[0]["event"] != "self" || r.Events[1]["event"] != "both" || r.More {
		t.Fatalf("personal latest %+v", r)
	}
	c.send("pushi:latest", map[string]any{"channel": "personal-ann", "since": 0})
	c.expectError(nil)
	c.pingPong()
}

// pushi:latest (docs/features.md §7.1): skip mode newest first, since mode oldest
// first, count capped at read_max; every refusal is pusher:error code null
// on an open socket; the legacy pusher:latest gets pusher_internal:latest.
func TestLatest(t *testing.T) {
	s := startPersistServer(t, nil) // read_max 20
	const n = 25
	s.persistN(t, appStore, "news-l", n)
	rest := s.channelHistory(t, appStore, "news-l")
	c := s.connect(t, appStore.key)
	c.subscribe("news-l", nil)

	latest := func(data map[string]any) latestReply {
		t.Helper()
		data["channel"] = "news-l"
		c.send("pushi:latest", data)
		r := c.expectLatest("pushi_internal:latest", "news-l")
		for _, e := range r.Events {
			if keys := strings.Join(sortedKeys(e), ","); keys != "channel,data,event,mid,seq,timestamp" {
				t.Fatalf("latest event keys %s", keys)
			}
			seq := int64(e["seq"].(float64))
			want := rest[seq-1]
			if e["mid"] != want.MID || e["timestamp"] != want.Timestamp || e["data"] != want.Data || e["channel"] != "news-l" || e["event"] != "e" {
				t.Fatalf("latest event %v, REST record %+v", e, want)
			}
		}
		return r
	}
	seqs := func(r latestReply) string {
		var s []string
		for _, e := range r.Events {
			s = append(s, strconv.Itoa(int(e["seq"].(float64))))
		}
		return strings.Join(s, ",") + " more=" + strconv.FormatBool(r.More)
	}
	for _, tc := range []struct {
		data map[string]any
		want string
	}{
		{map[string]any{}, "25,24,23,22,21,20,19,18,17,16 more=true"},
		{map[string]any{"skip": 2, "count": 3}, "23,22,21 more=true"},
		{map[string]any{"skip": 22, "count": 5}, "3,2,1 more=false"},
		{map[string]any{"skip": 25}, " more=false"},
		{map[string]any{"count": 100}, "25,24,23,22,21,20,19,18,17,16,15,14,13,12,11,10,9,8,7,6 more=true"}, // capped at read_max
		{map[string]any{"since": 20, "count": 3}, "21,22,23 more=true"},
		{map[string]any{"since": 22}, "23,24,25 more=false"},
		{map[string]any{"since": 0, "count": 100}, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 more=true"},
		{map[string]any{"since": 25}, " more=false"},
		{map[string]any{"since": 3, "skip": 10, "count": 2}, "4,5 more=true"}, // since wins
		{map[string]any{"count": 0}, " more=false"},
		{map[string]any{"skip": nil, "count": nil}, "25,24,23,22,21,20,19,18,17,16 more=true"},
	} {
		if got := seqs(latest(tc.data)); got != tc.want {
			t.Fatalf("pushi:latest %v: %s, want %s", tc.data, got, tc.want)
		}
	}
	// Data may come as a JSON string (docs/protocol.md §2).
	c.sendText(`{"event":"pushi:latest","data":"{\"channel\":\"news-l\",\"count\":1}"}`)
	if r := c.expectLatest("pushi_internal:latest", "news-l"); len(r.Events) != 1 || r.Events[0]["seq"] != float64(25) {
		t.Fatalf("string data: %+v", r)
	}
	// The original pushi's command name.
	c.send("pusher:latest", map[string]any{"channel": "news-l", "count": 2})
	if r := c.expectLatest("pusher_internal:latest", "news-l"); len(r.Events) != 2 || r.Events[0]["seq"] != float64(25) || !r.More {
		t.Fatalf("pusher:latest: %+v", r)
	}

	for _, bad := range []string{
		`{"event":"pushi:latest","data":{"channel":"news-l","skip":-1}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","count":-5}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","since":-1}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","count":"5"}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","skip":1.5}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","since":true}}`,
		`{"event":"pushi:latest","data":{"channel":"news-l","count":1e40}}`,
		`{"event":"pushi:latest","data":{"channel":5}}`,
		`{"event":"pushi:latest","data":{"skip":0}}`,
		`{"event":"pushi:latest","data":[1]}`,
		`{"event":"pushi:latest","data":"not json"}`,
		`{"event":"pushi:latest"}`,
		`{"event":"pushi:latest","data":{"channel":"news-other"}}`, // not held
		`{"event":"pusher:latest","data":{"channel":"news-l","skip":-1}}`,
	} {
		c.sendText(bad)
		c.expectError(nil)
	}
	c.pingPong()
}

// Bad input is refused with a 4xx JSON error before anything is stored:
// the channel's history and its sequence are unchanged afterwards.
func TestHistoryBadInput(t *testing.T) {
	s := startPersistServer(t, nil) // max_event_bytes 64
	s.persistN(t, appStore, "news-x", 3)
	before := s.channelHistory(t, appStore, "news-x")

	wantError := func(status int, body map[string]any, want int, what string) {
		t.Helper()
		msg, _ := body["error"].(string)
		if status != want || body["code"] != float64(want) || msg == "" || len(body) != 2 {
			t.Fatalf("%s: %d %v, want %d with error and code", what, status, body, want)
		}
	}
	post := func(path, body string, want int) {
		t.Helper()
		status, resp := s.api(t, appStore, "POST", path, nil, body)
		wantError(status, resp, want, "POST "+path+" "+body)
	}
	big := strings.Repeat("x", 65)
	post("/events", `{"name":"e","channel":"news-x","data":"`+big+`"}`, http.StatusRequestEntityTooLarge)
	post("/events", `{"name":"e","channels":["news-x","news-y"],"data":"`+big+`","persist":true}`, http.StatusRequestEntityTooLarge)
	post("/events", `{"name":"e","channel":"news-x","data":"1"`, http.StatusBadRequest)
	post("/events", `{"name":"e","channel":"news-x","data":"1","persist":"yes"}`, http.StatusBadRequest)
	post("/events", `{"name":"e","channels":["news-x","bad*name"],"data":"1"}`, http.StatusBadRequest)
	post("/events", `{"name":"pushi_internal:x","channel":"news-x","data":"1"}`, http.StatusBadRequest)
	post("/batch_events", `{"batch":[{"name":"ok","channel":"news-x","data":"1"},{"name":"e","channel":"news-x","data":"`+big+`"}]}`, http.StatusRequestEntityTooLarge)
	post("/batch_events", `{"batch":[{"name":"ok","channel":"news-x","data":"1"},{"name":"e","channel":"news-x"}]}`, http.StatusBadRequest)
	post("/channels/news-x/events", big, http.StatusBadRequest) // no name
	if status, resp := s.signedRequest(t, "POST", "/apps/999999/channels/news-x/events", appStore.key, appStore.secret, url1("name", "e"), []byte(big)); status != http.StatusNotFound {
		t.Fatalf("unknown app: %d %v", status, resp)
	}
	status, resp := s.signedRequest(t, "POST", "/apps/"+appStore.id+"/channels/news-x/events", appStore.key, appStore.secret, url1("name", "e"), []byte(big))
	wantError(status, resp, http.StatusRequestEntityTooLarge, "legacy trigger over the limit")

	get := func(path string, q url.Values, want int) {
		t.Helper()
		status, resp := s.api(t, appStore, "GET", path, q, "")
		wantError(status, resp, want, "GET "+path+" "+q.Encode())
	}
	for _, q := range []url.Values{
		{"before": {"3"}, "after": {"1"}},
		{"limit": {"0"}}, {"limit": {"-1"}}, {"limit": {"1001"}}, {"limit": {"x"}}, {"limit": {"1.5"}},
		{"before": {"-1"}}, {"before": {"x"}}, {"after": {"-2"}}, {"after": {"1e3"}},
	} {
		get("/channels/news-x/events", q, http.StatusBadRequest)
	}
	get("/channels/bad*name/events", nil, http.StatusBadRequest)
	get("/channels/"+strings.Repeat("c", 201)+"/events", nil, http.StatusBadRequest)
	get("/users/bad*user/events", nil, http.StatusBadRequest)
	get("/users/ann/events", url1("before", "not-a-mid"), http.StatusBadRequest)
	get("/users/ann/events", url1("before", strings.ToUpper(before[0].MID)), http.StatusBadRequest)
	get("/users/ann/events", url1("limit", "0"), http.StatusBadRequest)
	status, resp = s.signedRequest(t, "GET", "/apps/999999/channels/news-x/events", appStore.key, appStore.secret, nil, nil)
	wantError(status, resp, http.StatusNotFound, "unknown app")
	status, resp = s.signedRequest(t, "GET", "/apps/"+appStore.id+"/channels/news-x/events", appStore.key, "wrong-secret", nil, nil)
	wantError(status, resp, http.StatusUnauthorized, "bad signature")
	status, resp = s.api(t, appStore, "PUT", "/channels/news-x/events", nil, "")
	wantError(status, resp, http.StatusMethodNotAllowed, "PUT on the history route")

	if after := s.channelHistory(t, appStore, "news-x"); summary(after) != summary(before) {
		t.Fatalf("bad input changed history: %s → %s", summary(before), summary(after))
	}
	for _, ch := range []string{"news-x", "news-y"} {
		if last, err := s.Store.LastSeq(context.Background(), appStore.id, ch); err != nil || (ch == "news-x" && last != 3) || (ch == "news-y" && last != 0) {
			t.Fatalf("%s: last seq %d (%v): a refused trigger allocated a seq", ch, last, err)
		}
	}
}

// Retention runs in the background every PUSHI_RETENTION_INTERVAL: per
// channel the newest max_events_per_channel records, per user the newest
// inbox_max_per_user rows, nothing older than max_age_s; seqs are never
// reused after trimming.
func TestRetention(t *testing.T) {
	s := startPersistServer(t, map[string]string{"PUSHI_RETENTION_INTERVAL": "1"})
	s.followAPI(t, appRetain, true, "ann", "r")
	s.followAPI(t, appAged, true, "ann", "old")
	s.persistN(t, appRetain, "r", 6)
	s.persistN(t, appAged, "old", 2)
	// Reads exceed the cap until a pass runs; on a slow machine the first
	// pass (1 s after start) may already have run.
	if got := summary(s.channelHistory(t, appRetain, "r")); got != "e/0@1 e/1@2 e/2@3 e/3@4 e/4@5 e/5@6" && got != "e/3@4 e/4@5 e/5@6" {
		t.Fatalf("before trimming: %s", got)
	}

	testkit.Eventually(t, 5*time.Second, "a retention pass: r and its inbox at their caps, aged's history and inbox empty", func() bool {
		r := summary(s.channelHistory(t, appRetain, "r"))
		inbox, _ := s.historyPage(t, appRetain, "/users/ann/events", nil)
		old := s.channelHistory(t, appAged, "old")
		oldInbox, _ := s.historyPage(t, appAged, "/users/ann/events", nil)
		return r == "e/3@4 e/4@5 e/5@6" && summary(inbox) == "e/5@6 e/4@5" && len(old) == 0 && len(oldInbox) == 0
	})
	// A replay from before the trimmed records says it is incomplete.
	c := s.connect(t, appRetain.key)
	c.subscribe("r", map[string]any{"since": 0})
	for i := 3; i < 6; i++ {
		c.expectStoredFrame(`{"event":"e","channel":"r","data":"` + strconv.Itoa(i) + `"}`)
	}
	if d := c.expectReplayDone(); d != (replayDone{"r", 3, 6, false}) {
		t.Fatalf("replay over trimmed records: %+v", d)
	}

	s.persistN(t, appRetain, "r", 1)
	s.persistN(t, appAged, "old", 1)
	if got := summary(s.channelHistory(t, appRetain, "r")); !strings.HasSuffix(got, "e/0@7") {
		t.Fatalf("after trimming: %s (a seq was reused)", got)
	}
	if got := summary(s.channelHistory(t, appAged, "old")); got != "e/0@3" {
		t.Fatalf("aged channel after trimming: %s", got)
	}
}

// On a cache channel the replay follows the cache frame (docs/features.md §7.2).
func TestReplayAfterCacheFrame(t *testing.T) {
	s := startPersistServer(t, nil)
	for i := 0; i < 3; i++ {
		s.triggerOK(t, appStore, map[string]any{"name": "p", "channel": "cache-r", "data": strconv.Itoa(i), "persist": true})
	}
	c := s.connect(t, appStore.key)
	c.subscribe("cache-r", map[string]any{"since": 1})
	c.expectRaw(`{"event":"p","channel":"cache-r","data":"2"}`)
	if l := c.expectStoredFrame(`{"event":"p","channel":"cache-r","data":"1"}`); l.seq != 2 {
		t.Fatalf("first replayed seq %d", l.seq)
	}
	c.expectStoredFrame(`{"event":"p","channel":"cache-r","data":"2"}`)
	if d := c.expectReplayDone(); d != (replayDone{"cache-r", 2, 3, true}) {
		t.Fatalf("replay_done %+v", d)
	}
	c.pingPong()
}
