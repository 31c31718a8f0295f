package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Persistence of HTTP triggers and client events (docs/features.md §5) over real
// WebSocket connections, checked against the REST history (§7.3).

var (
	appStore  = testApp{"300001", "key-store", "secret-store"} // prefix news-, every client event stored
	appRetain = testApp{"300002", "key-retain", "secret-retain"}
	appAged   = testApp{"300003", "key-aged", "secret-aged"}
	appQuiet  = testApp{"300004", "key-quiet", "secret-quiet"} // client events never stored
	appPeerd  = testApp{"300005", "key-peerd", "secret-peerd"} // client events stored on peer channels only
)

const persistAppsJSON = `{"apps":[
 {"id":"300001","key":"key-store","secret":"secret-store","name":"store","client_events":true,
  "limits":{"max_event_bytes":64},"persistence":{"prefixes":["news-"],"client_events":"all","read_max":20}},
 {"id":"300002","key":"key-retain","secret":"secret-retain","name":"retain",
  "persistence":{"default":true,"max_events_per_channel":3,"inbox_max_per_user":2}},
 {"id":"300003","key":"key-aged","secret":"secret-aged","name":"aged","persistence":{"default":true,"max_age_s":1}},
 {"id":"300004","key":"key-quiet","secret":"secret-quiet","name":"quiet","client_events":true,
  "persistence":{"default":true,"client_events":"none"}},
 {"id":"300005","key":"key-peerd","secret":"secret-peerd","name":"peerd","client_events":true}
]}`

// startPersistServer runs a server with the apps of persistAppsJSON.
func startPersistServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	return startServerWithApps(t, persistAppsJSON, env)
}

// liveStored is what a persisted event's live frame adds.
type liveStored struct {
	mid       string
	seq       int64
	timestamp string // as on the wire: seconds with exactly three decimals
}

var storedParts = regexp.MustCompile(`,"mid":"([^"]+)","seq":([0-9]+),"timestamp":([0-9]+\.[0-9]{3})}$`)

// expectStoredFrame reads a persisted event's frame: want (the Pusher
// frame) followed by exactly mid, seq and timestamp, the mid a UUIDv7.
func (c *wsClient) expectStoredFrame(want string) liveStored {
	c.t.Helper()
	f := c.next()
	m := storedParts.FindStringSubmatch(f.raw)
	if m == nil || !storedSuffix.MatchString(f.raw) || strings.TrimSuffix(f.raw, m[0])+"}" != want {
		c.t.Fatalf("frame\n got: %s\nwant: %s with mid, seq and timestamp", f.raw, want)
	}
	seq, _ := strconv.ParseInt(m[2], 10, 64)
	return liveStored{m[1], seq, m[3]}
}

// seqByData checks a whole channel history (strictly increasing seq, no
// trigger stored twice, triggers told apart by their data) and maps each
// record's data to its seq.
func seqByData(t testing.TB, what string, recs []record) map[string]int64 {
	t.Helper()
	seqs := make(map[string]int64, len(recs))
	var last int64
	for _, r := range recs {
		if r.Seq <= last {
			t.Fatalf("%sseq %d after %d", what, r.Seq, last)
		}
		last = r.Seq
		if _, dup := seqs[r.Data]; dup {
			t.Fatalf("%strigger %s stored twice", what, r.Data)
		}
		seqs[r.Data] = r.Seq
	}
	return seqs
}

// record is a stored event as the REST history shows it.
type record struct {
	MID       string  `json:"mid"`
	Seq       int64   `json:"seq"`
	Timestamp float64 `json:"timestamp"`
	Channel   string  `json:"channel"`
	Event     string  `json:"event"`
	Data      string  `json:"data"`
	Source    string  `json:"source"`
	SocketID  *string `json:"socket_id"`
	UserID    *string `json:"user_id"`
}

var restRecordKeys = []string{"channel", "data", "event", "mid", "seq", "socket_id", "source", "timestamp", "user_id"}

// historyPage reads one page of a REST history route (path relative to
// /apps/{id}) and checks every record has exactly the REST keys.
func (s *testServer) historyPage(t testing.TB, a testApp, path string, query url.Values) ([]record, bool) {
	t.Helper()
	status, body := s.api(t, a, "GET", path, query, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s %v: %d %v", path, query, status, body)
	}
	if len(body) != 2 {
		t.Fatalf("GET %s: want exactly events and more: %v", path, body)
	}
	raw, _ := json.Marshal(body["events"])
	var keyed []map[string]any
	var out []record
	if err := json.Unmarshal(raw, &keyed); err != nil || json.Unmarshal(raw, &out) != nil || keyed == nil {
		t.Fatalf("GET %s: events %s", path, raw)
	}
	for _, k := range keyed {
		if got := sortedKeys(k); strings.Join(got, ",") != strings.Join(restRecordKeys, ",") {
			t.Fatalf("REST record keys %v, want %v", got, restRecordKeys)
		}
	}
	more, ok := body["more"].(bool)
	if !ok {
		t.Fatalf("GET %s: more %v", path, body["more"])
	}
	return out, more
}

// channelHistory reads a channel's whole history oldest first.
func (s *testServer) channelHistory(t testing.TB, a testApp, channel string) []record {
	t.Helper()
	recs, more := s.historyPage(t, a, "/channels/"+url.PathEscape(channel)+"/events", url.Values{"after": {"0"}, "limit": {"1000"}})
	if more {
		t.Fatalf("history of %s longer than one page", channel)
	}
	return recs
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return sortedCopy(ks)
}

// summary lists records as event/data@seq, for compact comparisons.
func summary(recs []record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, r.Event+"/"+r.Data+"@"+strconv.FormatInt(r.Seq, 10))
	}
	return strings.Join(parts, " ")
}

// checkLive checks a REST record against the live frame of the same event.
func checkLive(t testing.TB, r record, live liveStored) {
	t.Helper()
	ts, _ := strconv.ParseFloat(live.timestamp, 64)
	if r.MID != live.mid || r.Seq != live.seq || r.Timestamp != ts {
		t.Fatalf("record %+v does not match its live frame %+v", r, live)
	}
	if now := float64(time.Now().UnixMilli()) / 1000; ts > now || ts < now-60 {
		t.Fatalf("timestamp %s is not the server's clock at acceptance (now %.3f)", live.timestamp, now)
	}
}

func (s *testServer) triggerOK(t testing.TB, a testApp, body map[string]any) {
	t.Helper()
	if status, resp := s.trigger(t, a.key, a.secret, a.id, body); status != 200 || len(resp) != 0 {
		t.Fatalf("trigger %v: %d %v", body, status, resp)
	}
}

// The per-channel decision (persist flag, then prefixes, then the default)
// across the three trigger routes; stored events reach subscribers with
// exactly mid, seq and timestamp added, the others unchanged.
func TestPersistedTriggers(t *testing.T) {
	s := startPersistServer(t, nil)
	c := s.connect(t, appStore.key)
	c.subscribe("news-a", nil)
	c.subscribe("plain", nil)
	var live []liveStored // news-a's, in order

	// Prefix rule: stored. No rule: not stored, frame unchanged.
	s.triggerOK(t, appStore, map[string]any{"name": "up", "channel": "news-a", "data": `{"a":1}`})
	live = append(live, c.expectStoredFrame(`{"event":"up","channel":"news-a","data":"{\"a\":1}"}`))
	s.triggerOK(t, appStore, map[string]any{"name": "raw", "channel": "plain", "data": "x"})
	c.expectRaw(`{"event":"raw","channel":"plain","data":"x"}`)

	// The body's flag beats both.
	s.triggerOK(t, appStore, map[string]any{"name": "kept", "channel": "plain", "data": "p1", "persist": true})
	if l := c.expectStoredFrame(`{"event":"kept","channel":"plain","data":"p1"}`); l.seq != 1 {
		t.Fatalf("first stored event on plain has seq %d", l.seq)
	}
	s.triggerOK(t, appStore, map[string]any{"name": "not", "channel": "news-a", "data": "n", "persist": false})
	c.expectRaw(`{"event":"not","channel":"news-a","data":"n"}`)

	// Several channels: one record each, with its own mid and seq, in
	// request order; a socket in both gets one frame per channel.
	s.triggerOK(t, appStore, map[string]any{"name": "multi", "channels": []string{"news-a", "plain"}, "data": "m", "persist": true})
	live = append(live, c.expectStoredFrame(`{"event":"multi","channel":"news-a","data":"m"}`))
	if l := c.expectStoredFrame(`{"event":"multi","channel":"plain","data":"m"}`); l.seq != 2 || l.mid == live[1].mid {
		t.Fatalf("plain's record %+v shares news-a's %+v", l, live[1])
	}
	// Mixed: decided per channel.
	s.triggerOK(t, appStore, map[string]any{"name": "mixed", "channels": []string{"plain", "news-a"}, "data": "x"})
	c.expectRaw(`{"event":"mixed","channel":"plain","data":"x"}`)
	live = append(live, c.expectStoredFrame(`{"event":"mixed","channel":"news-a","data":"x"}`))

	// The deprecated trigger follows the prefix rule.
	if status, body := s.api(t, appStore, "POST", "/channels/news-a/events", url1("name", "legacy"), "hello"); status != 200 || len(body) != 0 {
		t.Fatalf("legacy trigger: %d %v", status, body)
	}
	live = append(live, c.expectStoredFrame(`{"event":"legacy","channel":"news-a","data":"hello"}`))

	// batch_events: each item decides for itself.
	batch := `{"batch":[{"name":"b1","channel":"plain","data":"1","persist":true},{"name":"b2","channel":"news-a","data":"2","persist":false},{"name":"b3","channel":"news-a","data":"3"}]}`
	if status, body := s.api(t, appStore, "POST", "/batch_events", nil, batch); status != 200 || len(body) != 0 {
		t.Fatalf("batch: %d %v", status, body)
	}
	c.expectStoredFrame(`{"event":"b1","channel":"plain","data":"1"}`)
	c.expectRaw(`{"event":"b2","channel":"news-a","data":"2"}`)
	live = append(live, c.expectStoredFrame(`{"event":"b3","channel":"news-a","data":"3"}`))

	// socket_id excludes the publisher's socket; the record is still stored,
	// as an API event (socket_id is recorded for client events only).
	s.triggerOK(t, appStore, map[string]any{"name": "quiet", "channel": "news-a", "data": "q", "socket_id": c.socketID})
	c.pingPong()

	news := s.channelHistory(t, appStore, "news-a")
	if got := summary(news); got != "up/{\"a\":1}@1 multi/m@2 mixed/x@3 legacy/hello@4 b3/3@5 quiet/q@6" {
		t.Fatalf("news-a history: %s", got)
	}
	for i, l := range live {
		checkLive(t, news[i], l)
	}
	for _, r := range news {
		if r.Channel != "news-a" || r.Source != "api" || r.SocketID != nil || r.UserID != nil {
			t.Fatalf("API record %+v", r)
		}
	}
	if got := summary(s.channelHistory(t, appStore, "plain")); got != "kept/p1@1 multi/m@2 b1/1@3" {
		t.Fatalf("plain history: %s", got)
	}
	c.expectNothing(50 * time.Millisecond)
}

// persistence.default true: everything is stored unless the body (or the
// batch item) says persist:false, which wins for its channels only.
func TestPersistDefaultOverride(t *testing.T) {
	s := startPersistServer(t, nil)
	c := s.connect(t, appQuiet.key)
	c.subscribe("d", nil)
	c.subscribe("e", nil)

	s.triggerOK(t, appQuiet, map[string]any{"name": "kept", "channel": "d", "data": "1"})
	c.expectStoredFrame(`{"event":"kept","channel":"d","data":"1"}`)
	s.triggerOK(t, appQuiet, map[string]any{"name": "off", "channel": "d", "data": "2", "persist": false})
	c.expectRaw(`{"event":"off","channel":"d","data":"2"}`)
	s.triggerOK(t, appQuiet, map[string]any{"name": "off2", "channels": []string{"d", "e"}, "data": "3", "persist": false})
	c.expectRaw(`{"event":"off2","channel":"d","data":"3"}`)
	c.expectRaw(`{"event":"off2","channel":"e","data":"3"}`)
	batch := `{"batch":[{"name":"b1","channel":"e","data":"4","persist":false},{"name":"b2","channel":"e","data":"5"}]}`
	if status, body := s.api(t, appQuiet, "POST", "/batch_events", nil, batch); status != 200 || len(body) != 0 {
		t.Fatalf("batch: %d %v", status, body)
	}
	c.expectRaw(`{"event":"b1","channel":"e","data":"4"}`)
	if l := c.expectStoredFrame(`{"event":"b2","channel":"e","data":"5"}`); l.seq != 1 {
		t.Fatalf("first stored record on e has seq %d", l.seq)
	}
	if status, body := s.api(t, appQuiet, "POST", "/channels/d/events", url1("name", "legacy"), "6"); status != 200 || len(body) != 0 {
		t.Fatalf("legacy trigger: %d %v", status, body)
	}
	c.expectStoredFrame(`{"event":"legacy","channel":"d","data":"6"}`)

	if got := summary(s.channelHistory(t, appQuiet, "d")); got != "kept/1@1 legacy/6@2" {
		t.Fatalf("d history: %s", got)
	}
	if got := summary(s.channelHistory(t, appQuiet, "e")); got != "b2/5@1" {
		t.Fatalf("e history: %s", got)
	}
	c.expectNothing(50 * time.Millisecond)
}

// Four publishers trigger on one stored channel at once: the subscriber
// sees seqs 1..n in increasing order (seq allocation and broadcast happen in
// one order), each publisher's events in the order it sent them, and the
// REST history lists the same records in the same order.
func TestPersistOrderConcurrentPublishers(t *testing.T) {
	s := startPersistServer(t, nil)
	c := s.connect(t, appStore.key)
	const channel, publishers, each = "news-race", 4, 50
	c.subscribe(channel, nil)

	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs before the server stops, so publishers never log after the test
	for g := 0; g < publishers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"name":"e","channel":%q,"data":"%d-%d"}`, channel, g, i)
				if status, err := signedTrigger(client, s.apiURL, appStore, []byte(body)); err != nil || status != 200 {
					t.Errorf("publisher %d, trigger %d: %d %v", g, i, status, err)
					return
				}
			}
		}()
	}

	var mids []string
	next := make([]int, publishers)
	switches, prev := 0, -1 // publisher changes between frames: proof the publishes overlapped
	for n := 1; n <= publishers*each; n++ {
		f := c.next()
		m := storedParts.FindStringSubmatch(f.raw)
		var g, i int
		if m == nil || f.Event != "e" || f.Channel != channel {
			t.Fatalf("frame %d: %s", n, f.raw)
		}
		if _, err := fmt.Sscanf(f.dataString(t), "%d-%d", &g, &i); err != nil || g < 0 || g >= publishers {
			t.Fatalf("frame %d: %s", n, f.raw)
		}
		if seq, _ := strconv.ParseInt(m[2], 10, 64); seq != int64(n) {
			t.Fatalf("frame %d has seq %d: %s", n, seq, f.raw)
		}
		if i != next[g] {
			t.Fatalf("publisher %d: trigger %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
		mids = append(mids, m[1])
		if g != prev {
			switches, prev = switches+1, g
		}
	}
	wg.Wait()
	if switches <= publishers {
		t.Fatalf("publishers ran one after another (%d switches): nothing concurrent was tested", switches)
	}
	c.expectNothing(50 * time.Millisecond)

	recs := s.channelHistory(t, appStore, channel)
	if len(recs) != len(mids) {
		t.Fatalf("%d records, %d live frames", len(recs), len(mids))
	}
	for i, r := range recs {
		if r.MID != mids[i] || r.Seq != int64(i+1) {
			t.Fatalf("record %d %+v, live mid %s", i, r, mids[i])
		}
	}
}

// Encrypted channels store the publisher's envelope as is (the server has
// no key); cache channels keep the plain Pusher frame as their cache slot.
func TestPersistedEncryptedAndCache(t *testing.T) {
	s := startPersistServer(t, nil)
	c := s.connect(t, appStore.key)
	c.subscribePrivate(appStore, "private-encrypted-x")
	envelope := `{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}`
	s.triggerOK(t, appStore, map[string]any{"name": "sealed", "channel": "private-encrypted-x", "data": envelope, "persist": true})
	c.expectStoredFrame(`{"event":"sealed","channel":"private-encrypted-x","data":` + string(mustMarshal(t, envelope)) + `}`)
	if recs := s.channelHistory(t, appStore, "private-encrypted-x"); len(recs) != 1 || recs[0].Data != envelope {
		t.Fatalf("encrypted history %+v", recs)
	}

	c.subscribe("cache-c", nil)
	c.expectRaw(`{"event":"pusher:cache_miss","channel":"cache-c"}`)
	s.triggerOK(t, appStore, map[string]any{"name": "last", "channel": "cache-c", "data": "v", "persist": true})
	c.expectStoredFrame(`{"event":"last","channel":"cache-c","data":"v"}`)
	late := s.connect(t, appStore.key)
	late.subscribe("cache-c", nil)
	late.expectRaw(`{"event":"last","channel":"cache-c","data":"v"}`)
	late.pingPong()
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// persistence.client_events: "all" stores client events on every channel
// with the sender's socket_id (and user_id on presence); "none" and "peer"
// leave private channels alone; "peer" stores peer-channel events.
func TestPersistedClientEvents(t *testing.T) {
	s := startPersistServer(t, nil)
	a, b := s.connect(t, appStore.key), s.connect(t, appStore.key)
	a.subscribePrivate(appStore, "private-chat")
	b.subscribePrivate(appStore, "private-chat")
	a.sendText(`{"event":"client-hi","channel":"private-chat","data":{"m":1}}`)
	l := b.expectStoredFrame(`{"event":"client-hi","channel":"private-chat","data":"{\"m\":1}"}`)
	a.pingPong() // no echo

	const room = "presence-room"
	a.subscribePresence(appStore, room, `{"user_id":"u1"}`)
	b.subscribePresence(appStore, room, `{"user_id":7}`)
	a.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":7,\"user_info\":{}}"}`)
	b.sendText(`{"event":"client-typing","channel":"presence-room","data":"on"}`)
	a.expectStoredFrame(`{"event":"client-typing","channel":"presence-room","data":"on","user_id":7}`)

	recs := s.channelHistory(t, appStore, "private-chat")
	if len(recs) != 1 || recs[0].Source != "client" || recs[0].SocketID == nil || *recs[0].SocketID != a.socketID || recs[0].UserID != nil {
		t.Fatalf("private client event record %+v", recs)
	}
	checkLive(t, recs[0], l)
	recs = s.channelHistory(t, appStore, room)
	if len(recs) != 1 || recs[0].Source != "client" || *recs[0].SocketID != b.socketID || recs[0].UserID == nil || *recs[0].UserID != "7" {
		t.Fatalf("presence client event record %+v", recs)
	}

	// "none": delivered unchanged, not stored (the app's triggers are).
	q1, q2 := s.connect(t, appQuiet.key), s.connect(t, appQuiet.key)
	q1.subscribePrivate(appQuiet, "private-q")
	q2.subscribePrivate(appQuiet, "private-q")
	q1.sendText(`{"event":"client-x","channel":"private-q","data":"1"}`)
	q2.expectRaw(`{"event":"client-x","channel":"private-q","data":"1"}`)
	s.triggerOK(t, appQuiet, map[string]any{"name": "api", "channel": "private-q", "data": "2"})
	q2.expectStoredFrame(`{"event":"api","channel":"private-q","data":"2"}`)
	if got := summary(s.channelHistory(t, appQuiet, "private-q")); got != "api/2@1" {
		t.Fatalf("quiet history: %s", got)
	}

	// "peer" (the default): private channels not stored, peer channels stored.
	alice, carol, bob := s.connect(t, appPeerd.key), s.connect(t, appPeerd.key), s.connect(t, appPeerd.key)
	alice.subscribePrivate(appPeerd, "private-p")
	carol.subscribePrivate(appPeerd, "private-p")
	alice.sendText(`{"event":"client-x","channel":"private-p","data":"1"}`)
	carol.expectRaw(`{"event":"client-x","channel":"private-p","data":"1"}`)
	const chat, pair = "presence-chat", "peer-chat:alice&carol"
	alice.subscribePresence(appPeerd, chat, peerData("alice"))
	carol.subscribePresence(appPeerd, chat, peerData("carol"))
	carol.expectRaw(peerAdded(chat, pair, `\"alice\"`))
	alice.expectRaw(memberAdded(chat, "carol"))
	alice.expectRaw(peerAdded(chat, pair, `\"carol\"`))
	alice.sendText(`{"event":"client-hi","channel":"` + pair + `","data":"yo"}`)
	carol.expectStoredFrame(`{"event":"client-hi","channel":"peer-chat:alice&carol","data":"yo","user_id":"alice"}`)
	if recs := s.channelHistory(t, appPeerd, "private-p"); len(recs) != 0 {
		t.Fatalf("private client event stored under \"peer\": %+v", recs)
	}
	recs = s.channelHistory(t, appPeerd, pair)
	if len(recs) != 1 || recs[0].Source != "client" || *recs[0].SocketID != alice.socketID || *recs[0].UserID != "alice" {
		t.Fatalf("peer record %+v", recs)
	}

	// pushi:latest on the pair: an eligible socket reads it without holding
	// it (docs/features.md §7.1); a socket that is not eligible is refused.
	carol.send("pusher:unsubscribe", map[string]any{"channel": pair})
	carol.send("pushi:latest", map[string]any{"channel": pair})
	if got := carol.expectLatest("pushi_internal:latest", pair); len(got.Events) != 1 || got.Events[0]["data"] != "yo" || got.Events[0]["user_id"] != "alice" {
		t.Fatalf("peer latest %+v", got)
	}
	bob.send("pushi:latest", map[string]any{"channel": pair})
	bob.expectError(nil)
	bob.pingPong()
}

// A store that fails: the persisted channel's event is not delivered and
// the trigger answers 503; channels already delivered stay delivered. A
// client event that cannot be stored gets pusher:error and goes nowhere.
func TestPersistStoreFailure(t *testing.T) {
	s := startPersistServer(t, nil)
	c, d := s.connect(t, appStore.key), s.connect(t, appStore.key)
	for _, ch := range []string{"plain", "news-f"} {
		c.subscribe(ch, nil)
	}
	c.subscribePrivate(appStore, "private-f")
	d.subscribePrivate(appStore, "private-f")
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}

	status, body := s.trigger(t, appStore.key, appStore.secret, appStore.id, map[string]any{"name": "e", "channels": []string{"plain", "news-f"}, "data": "1"})
	if status != http.StatusServiceUnavailable || body["code"] != float64(503) || body["error"] == "" || len(body) != 2 {
		t.Fatalf("trigger with a failed store: %d %v", status, body)
	}
	c.expectRaw(`{"event":"e","channel":"plain","data":"1"}`)
	c.pingPong() // nothing on news-f

	d.sendText(`{"event":"client-x","channel":"private-f","data":"1"}`)
	d.expectError(nil)
	d.pingPong()
	c.pingPong() // not delivered
}

// expectLatest reads a latest reply on channel and returns its payload.
func (c *wsClient) expectLatest(event, channel string) latestReply {
	c.t.Helper()
	f := c.expectEvent(event)
	var r latestReply
	if err := json.Unmarshal([]byte(f.dataString(c.t)), &r); err != nil || f.Channel != channel || r.Channel != channel || r.Events == nil {
		c.t.Fatalf("latest reply %s on %s", f.raw, channel)
	}
	return r
}

type latestReply struct {
	Channel string           `json:"channel"`
	Events  []map[string]any `json:"events"`
	More    bool             `json:"more"`
}

// A stored client event on a cache channel is delivered with its
// mid/seq/timestamp but, like a plain client event, never replaces the
// cache slot (docs/protocol.md §10): the persisted path used to write it.
func TestStoredClientEventDoesNotWriteTheCache(t *testing.T) {
	s := startServerWithApps(t, `{"apps":[{"id":"300002","key":"key-cc","secret":"secret-cc","client_events":true,
  "persistence":{"client_events":"all"}}]}`, nil)
	a := testApp{"300002", "key-cc", "secret-cc"}
	const ch = "private-cache-stored"
	miss := `{"event":"pusher:cache_miss","channel":"` + ch + `"}`
	x, y := s.connect(t, a.key), s.connect(t, a.key)
	x.subscribePrivate(a, ch)
	x.expectRaw(miss)
	y.subscribePrivate(a, ch)
	y.expectRaw(miss)
	y.sendText(`{"event":"client-x","channel":"` + ch + `","data":"hi"}`)
	x.expectStored(`{"event":"client-x","channel":"` + ch + `","data":"hi"}`)
	z := s.connect(t, a.key)
	z.subscribePrivate(a, ch)
	z.expectRaw(miss)
}
