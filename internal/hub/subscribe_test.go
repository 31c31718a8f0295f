package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/testkit"
)

// The subscribe path reads the cluster state (member snapshot, cache
// slot) and raises webhooks without any shared hub lock held, and still
// keeps its two guarantees under concurrent publishes and joins. These
// tests run it against a state that takes time on every call, as a
// networked one does, and that fails the test if it is ever called with a
// shared lock held (lockcheck.go).

// seams wraps the state, the broker and the webhooks of a test node: each
// call checks that the calling goroutine holds no shared hub lock, the
// state calls sleep up to latency, and a state operation named in failing
// returns an error.
type seams struct {
	state.State
	latency time.Duration

	mu      sync.Mutex
	failing map[string]bool
	hooks   []WebhookEvent

	calls, violations atomic.Int64
	where             sync.Map // call name → struct{}: where a violation happened
}

func (s *seams) check(call string) {
	s.calls.Add(1)
	if sharedLocksHeld() != 0 {
		s.violations.Add(1)
		s.where.Store(call, struct{}{})
	}
}

func (s *seams) enter(op string) error {
	s.check("state." + op)
	if s.latency > 0 {
		time.Sleep(time.Duration(rand.Int64N(int64(s.latency))))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing[op] {
		return errors.New("state " + op + " unavailable (test)")
	}
	return nil
}

func (s *seams) fail(op string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil {
		s.failing = map[string]bool{}
	}
	s.failing[op] = on
}

func (s *seams) Join(ctx context.Context, app, channel, conn string, m *state.Member, max int) (state.Joined, error) {
	if err := s.enter("join"); err != nil {
		return state.Joined{}, err
	}
	return s.State.Join(ctx, app, channel, conn, m, max)
}

func (s *seams) Leave(ctx context.Context, app, channel, conn, user string) (state.Left, error) {
	if err := s.enter("leave"); err != nil {
		return state.Left{}, err
	}
	return s.State.Leave(ctx, app, channel, conn, user)
}

func (s *seams) Members(ctx context.Context, app, channel string) (state.Snapshot, error) {
	if err := s.enter("members"); err != nil {
		return state.Snapshot{}, err
	}
	return s.State.Members(ctx, app, channel)
}

func (s *seams) Cache(ctx context.Context, app, channel string) (state.CachedEvent, bool, error) {
	if err := s.enter("cache"); err != nil {
		return state.CachedEvent{}, false, err
	}
	return s.State.Cache(ctx, app, channel)
}

func (s *seams) SetCache(ctx context.Context, app, channel string, ev state.CachedEvent) error {
	if err := s.enter("setcache"); err != nil {
		return err
	}
	return s.State.SetCache(ctx, app, channel, ev)
}

func (s *seams) UserOnline(ctx context.Context, app, user, conn string) (bool, error) {
	if err := s.enter("online"); err != nil {
		return false, err
	}
	return s.State.UserOnline(ctx, app, user, conn)
}

func (s *seams) UserOffline(ctx context.Context, app, user, conn string) (bool, error) {
	if err := s.enter("offline"); err != nil {
		return false, err
	}
	return s.State.UserOffline(ctx, app, user, conn)
}

func (s *seams) Emit(_ *apps.App, ev WebhookEvent) {
	s.check("webhook " + ev.Name)
	s.mu.Lock()
	s.hooks = append(s.hooks, ev)
	s.mu.Unlock()
}

func (s *seams) hooked(name, channel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ev := range s.hooks {
		if ev.Name == name && ev.Channel == channel {
			n++
		}
	}
	return n
}

// checkedBroker is the memory broker behind the same check.
type checkedBroker struct {
	broker.Broker
	s *seams
}

func (b checkedBroker) Publish(ctx context.Context, p *broker.Publication) error {
	b.s.check("broker publish")
	return b.Broker.Publish(ctx, p)
}

func (b checkedBroker) Send(ctx context.Context, c broker.Control) error {
	b.s.check("broker send")
	return b.Broker.Send(ctx, c)
}

// seamNode is a node on seams, with lockDebug on for the test.
func seamNode(t *testing.T, latency time.Duration) (*Node, *apps.App, *seams) {
	t.Helper()
	lockDebug.Store(true)
	t.Cleanup(func() { lockDebug.Store(false) })
	s := &seams{State: state.NewMemory(), latency: latency}
	n, app := buildTestNode(t, func(a *apps.App) {
		a.ClientEvents, a.Watchlist = true, true
		a.Webhooks = []apps.Webhook{{URL: "http://hooks.invalid/"}} // hooks are raised; the fake takes them
	}, func(o *Options) { o.Webhooks = s }, s, func(h broker.Handler) (broker.Broker, error) {
		return checkedBroker{broker.NewMemory(h), s}, nil
	})
	t.Cleanup(func() {
		if v := s.violations.Load(); v > 0 {
			var where []string
			s.where.Range(func(k, _ any) bool { where = append(where, k.(string)); return true })
			t.Errorf("%d of %d seam calls ran with a shared hub lock held: %v", v, s.calls.Load(), where)
		}
	})
	return n, app, s
}

// parsed is one server frame.
type parsed struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    string `json:"data"`
}

func parseFrames(t *testing.T, raw []string) []parsed {
	t.Helper()
	out := make([]parsed, 0, len(raw))
	for _, r := range raw {
		if strings.HasPrefix(r, "close:") {
			continue
		}
		var p parsed
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			t.Fatalf("frame %q: %v", r, err)
		}
		out = append(out, p)
	}
	return out
}

// Guarantee 1: a socket receives exactly the events published after its
// subscription_succeeded. Publishers number their events; subscribers
// join at random moments while they run. After its answer each one must
// see one unbroken run of numbers up to the last, nothing before it and
// nothing twice, on a plain and on a cache channel (whose answer reads
// the state).
func TestSubscribeGetsExactlyTheEventsAfterItsAnswer(t *testing.T) {
	n, app, _ := seamNode(t, 2*time.Millisecond)
	const events, subscribers = 400, 24
	channels := []string{"feed", "cache-feed"}
	type sub struct {
		c  *Conn
		rc *recordConn
		ch string
	}
	var subs []sub
	for i := range subscribers {
		c, rc := recordedConnOn(n, app)
		c.socketID = fmt.Sprintf("%d.%d", 100+i, i)
		subs = append(subs, sub{c, rc, channels[i%2]})
	}
	var wg sync.WaitGroup
	for _, ch := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := protocol.Channel{Name: ch, Kind: protocol.Public, Cache: strings.HasPrefix(ch, "cache-")}
			for i := 1; i <= events; i++ {
				if err := n.Publish(context.Background(), app, pc, "tick", strconv.Itoa(i), ""); err != nil {
					t.Error(err)
					return
				}
				if i%20 == 0 {
					time.Sleep(time.Millisecond) // let subscribes interleave
				}
			}
		}()
	}
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 700 * time.Microsecond)
			n.handleMessage(s.c, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+s.ch+`"}}`))
		}()
	}
	wg.Wait()
	for _, s := range subs {
		drained(t, s.c)
		frames := parseFrames(t, s.rc.frames(t, 0))
		if len(frames) == 0 || frames[0].Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("%s: first frame %+v", s.ch, frames)
		}
		rest := frames[1:]
		if strings.HasPrefix(s.ch, "cache-") {
			// The cache frame (the last value, or a miss) answers the
			// subscribe; it may repeat the first live event.
			if len(rest) == 0 || (rest[0].Event != "pusher:cache_miss" && rest[0].Event != "tick") {
				t.Fatalf("%s: no cache frame after the answer: %+v", s.ch, rest)
			}
			rest = rest[1:]
		}
		if len(rest) == 0 {
			continue // joined after the last event
		}
		first, _ := strconv.Atoi(rest[0].Data)
		for i, f := range rest {
			if f.Event != "tick" || f.Data != strconv.Itoa(first+i) {
				t.Fatalf("%s (socket %s): after %d the run breaks at position %d with %+v", s.ch, s.c.socketID, first, i, f)
			}
		}
		if last := first + len(rest) - 1; last != events {
			t.Fatalf("%s: the run ends at %d, want %d", s.ch, last, events)
		}
	}
}

// Guarantee 2: a concurrent presence join is either in the member list
// or arrives as member_added, never neither and never both; the same for
// leaves and member_removed. Every socket rebuilds the member set from
// its answer and the events, and must end with the state's.
func TestPresenceJoinsSeenExactlyOnce(t *testing.T) {
	n, app, _ := seamNode(t, 2*time.Millisecond)
	const ch, sockets = "presence-room", 30
	type member struct {
		c   *Conn
		rc  *recordConn
		id  string
		out bool // leaves again during the run
	}
	var ms []member
	for i := range sockets {
		c, rc := recordedConnOn(n, app)
		c.socketID = fmt.Sprintf("%d.%d", 200+i, i)
		ms = append(ms, member{c, rc, "u" + strconv.Itoa(i%20), i%3 == 0})
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			n.handleMessage(m.c, subscribeMsg(m.c, ch, `{"user_id":"`+m.id+`"}`))
			if m.out {
				time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
				n.handleMessage(m.c, unsubscribeMsg(ch))
			}
		}()
	}
	wg.Wait()
	snap, err := n.state.Members(context.Background(), app.ID, ch)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range snap.Members {
		want[m.UserID] = true
	}
	for _, m := range ms {
		if m.out {
			continue
		}
		view := map[string]bool{}
		answered := false
		drained(t, m.c)
		for _, f := range parseFrames(t, m.rc.frames(t, 0)) {
			var d struct {
				Presence struct{ IDs []string } `json:"presence"`
				UserID   string                 `json:"user_id"`
			}
			json.Unmarshal([]byte(f.Data), &d)
			switch f.Event {
			case "pusher_internal:subscription_succeeded":
				answered = true
				for _, id := range d.Presence.IDs {
					view[id] = true
				}
			case "pusher_internal:member_added":
				if !answered || view[d.UserID] {
					t.Fatalf("socket %s: member_added %s already listed (answered %v)", m.c.socketID, d.UserID, answered)
				}
				view[d.UserID] = true
			case "pusher_internal:member_removed":
				if !view[d.UserID] {
					t.Fatalf("socket %s: member_removed %s not listed", m.c.socketID, d.UserID)
				}
				delete(view, d.UserID)
			}
		}
		if fmt.Sprint(sortedSet(view)) != fmt.Sprint(sortedSet(want)) {
			t.Fatalf("socket %s (user %s) sees %v, the state has %v", m.c.socketID, m.id, sortedSet(view), sortedSet(want))
		}
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// drained waits until c's outgoing queue is written out.
func drained(t *testing.T, c *Conn) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "socket "+c.socketID+" has written its queue", func() bool {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return len(c.pending) == 0 && !c.writing
	})
}

// The failure policy (docs/architecture.md, "When the cluster state
// fails"), against a state that fails on demand.
func TestStateFailurePolicy(t *testing.T) {
	oldFirst, oldMax := repairFirstWait, repairMaxWait
	repairFirstWait, repairMaxWait = time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { repairFirstWait, repairMaxWait = oldFirst, oldMax })
	n, app, s := seamNode(t, 0)
	ctx := context.Background()
	errFrame := func(ch string) string {
		return `{"event":"pusher:subscription_error","channel":"` + ch + `","data":"{\"type\":\"InternalError\",\"error\":\"Cluster state unavailable, retry the subscription\",\"status\":503}"}`
	}

	// A join the state cannot record is refused, retryably, with nothing
	// left behind; the retry succeeds once the state answers.
	c, rc := recordedConnOn(n, app)
	s.fail("join", true)
	n.handleMessage(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"news"}}`))
	if got := rc.frames(t, 1); len(got) != 1 || got[0] != errFrame("news") {
		t.Fatalf("refused join: %v", got)
	}
	if n.index.localCount(app.ID, "news") != 0 || len(c.subs) != 0 || s.hooked("channel_occupied", "news") != 0 {
		t.Fatal("a refused join left the socket in the hub, the connection or a webhook")
	}
	s.fail("join", false)
	n.handleMessage(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"news"}}`))
	if got := rc.frames(t, 2); len(got) != 2 || !strings.Contains(got[1], "subscription_succeeded") {
		t.Fatalf("retried join: %v", got)
	}

	// A presence answer needs the member list: when it cannot be read the
	// join is undone (member and subscription) and the subscribe refused.
	p, prc := recordedConnOn(n, app)
	p.socketID = "7.7"
	s.fail("members", true)
	n.handleMessage(p, subscribeMsg(p, "presence-x", `{"user_id":"ann"}`))
	if got := prc.frames(t, 1); len(got) != 1 || got[0] != errFrame("presence-x") {
		t.Fatalf("presence without a member list: %v", got)
	}
	s.fail("members", false)
	if counts, _ := n.state.Channel(ctx, app.ID, "presence-x"); counts != (state.Counts{}) {
		t.Fatalf("the undone join left %+v in the state", counts)
	}

	// A leave the state cannot record happens locally at once and is
	// queued; once the state answers it is recorded, and what it decided
	// (vacated, once) is raised then.
	s.fail("leave", true)
	n.handleMessage(c, unsubscribeMsg("news"))
	if n.index.localCount(app.ID, "news") != 0 {
		t.Fatal("the socket still receives the channel it left")
	}
	if counts, _ := n.state.Channel(ctx, app.ID, "news"); counts.Subscriptions != 1 || n.repairs.pending() != 1 {
		t.Fatalf("before the repair: state %+v, %d repairs pending", counts, n.repairs.pending())
	}
	if s.hooked("channel_vacated", "news") != 0 {
		t.Fatal("vacated raised before the state recorded the leave")
	}
	s.fail("leave", false)
	testkit.Eventually(t, 5*time.Second, "the leave is recorded", func() bool { return n.repairs.pending() == 0 })
	if counts, _ := n.state.Channel(ctx, app.ID, "news"); counts.Subscriptions != 0 {
		t.Fatalf("after the repair: %+v", counts)
	}
	if got := s.hooked("channel_vacated", "news"); got != 1 {
		t.Fatalf("channel_vacated raised %d times, want once", got)
	}

	// A sign-in stands locally and reaches the state later; a sign-out
	// after it is recorded after it, so the user ends offline.
	u, _ := recordedConnOn(n, app)
	u.socketID = "8.8"
	s.fail("online", true)
	ud := `{"id":"zed"}`
	n.handleMessage(u, []byte(`{"event":"pusher:signin","data":{"auth":"key:`+protocol.Sign("secret", protocol.SigninMessage(u.socketID, ud))+`","user_data":`+strconv.Quote(ud)+`}}`))
	if u.userID != "zed" || n.repairs.pending() != 1 {
		t.Fatalf("sign-in: user %q, %d repairs pending", u.userID, n.repairs.pending())
	}
	s.fail("online", false)
	testkit.Eventually(t, 5*time.Second, "the sign-in is recorded", func() bool { return n.repairs.pending() == 0 })
	if online, _ := n.state.Online(ctx, app.ID, []string{"zed"}); len(online) != 1 {
		t.Fatal("the repaired sign-in is not online")
	}
	s.fail("offline", true)
	u.teardown()
	s.fail("offline", false)
	testkit.Eventually(t, 5*time.Second, "the sign-out is recorded", func() bool { return n.repairs.pending() == 0 })
	if online, _ := n.state.Online(ctx, app.ID, []string{"zed"}); len(online) != 0 {
		t.Fatal("the user stays online after the repaired sign-out")
	}
}
