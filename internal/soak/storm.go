package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
	"github.com/pushi-io/pushi/internal/protocol"
)

// The channel_vacated storm (issue 10, finding 1): sockets holding many
// public channels of an app with a webhook are dropped at once, so every
// channel comes due as channel_vacated 3 s later. Before the fix each due
// event ran on its own timer and took the dispatcher's mutex, which the
// hub waited for under a connection's lock: subscribes stalled for
// seconds. The attacker needs only the app's public key; the soak creates
// that app itself (admin API) with its webhook pointing at a receiver in
// this process, so everything stays on loopback.

const (
	stormPrefix    = "storm-"
	probeBound     = time.Second // a subscribe during the storm is answered within this
	probeInterval  = 100 * time.Millisecond
	stormMinWindow = 7 * time.Second // the 3 s delay, then release and delivery
	stormMaxWindow = 60 * time.Second
	// batchMax is the dispatcher's events per batched body: a dropped
	// body (retries_exhausted, refused_destination) holds up to this many.
	batchMax = 100
	// subscribeWindow bounds a storm socket's unanswered subscribes: a
	// thousand sent at once queue a thousand answers (~100 KB) on the
	// server, past the soak's PUSHI_QUEUE_BYTES, and it is closed 4100.
	subscribeWindow = 100
)

// hookReceiver is the storm app's webhook endpoint: it checks each body's
// signature and remembers which storm channels each webhook named.
type hookReceiver struct {
	srv *http.Server
	url string

	mu          sync.Mutex
	secret      string
	channels    map[string]map[string]struct{} // webhook name → storm channels seen
	lastVacated time.Time
	bodies      int64
	badSig      int64
	undecodable int64
}

func startReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/webhook", channels: map[string]map[string]struct{}{}}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *hookReceiver) setSecret(s string) {
	h.mu.Lock()
	h.secret = s
	h.mu.Unlock()
}

// ServeHTTP answers 200 whatever it got: a refusal would make the server
// retry, which is not what is measured. What was wrong is counted.
func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	now := time.Now()
	var msg struct {
		Events []struct {
			Name    string `json:"name"`
			Channel string `json:"channel"`
		} `json:"events"`
	}
	if err == nil {
		err = json.Unmarshal(body, &msg)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies++
	if r.Header.Get("X-Pusher-Signature") != protocol.Sign(h.secret, string(body)) {
		h.badSig++
	}
	if err != nil {
		h.undecodable++
		return
	}
	for _, ev := range msg.Events {
		if !strings.HasPrefix(ev.Channel, stormPrefix) {
			continue
		}
		seen := h.channels[ev.Name]
		if seen == nil {
			seen = map[string]struct{}{}
			h.channels[ev.Name] = seen
		}
		seen[ev.Channel] = struct{}{}
		if ev.Name == "channel_vacated" {
			h.lastVacated = now
		}
	}
}

// count is the number of distinct storm channels a webhook named (a
// retried body names them again).
func (h *hookReceiver) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.channels[name])
}

func (h *hookReceiver) close() { _ = h.srv.Close() }

// stormApp is the dedicated app, as POST /apps answered.
type stormApp struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// createStormApp creates the storm's app through the admin API: batched
// webhooks to hookURL, loopback allowed, room for perSocket channels per
// connection. legacy reports a server from before internal/netguard,
// which refuses allow_private_targets as unknown and posts to loopback
// without it (so the storm can be compared against older builds).
func createStormApp(ctx context.Context, det *detailedClient, hookURL string, perSocket int) (app stormApp, legacy bool, err error) {
	spec := map[string]any{
		"name":                  fmt.Sprintf("soak-storm-%d", time.Now().UnixNano()),
		"webhooks":              []map[string]string{{"url": hookURL}},
		"webhook_batching":      true,
		"allow_private_targets": true,
		"limits":                map[string]int{"max_channels_per_connection": max(perSocket, 1000)},
	}
	for {
		body, _ := json.Marshal(spec)
		status, out, err := det.admin(ctx, http.MethodPost, "/apps", body)
		if err != nil {
			return app, legacy, fmt.Errorf("POST /apps: %w", err)
		}
		if status == http.StatusBadRequest && !legacy && bytes.Contains(out, []byte("allow_private_targets")) {
			delete(spec, "allow_private_targets")
			legacy = true
			continue
		}
		if status != http.StatusCreated {
			return app, legacy, fmt.Errorf("POST /apps: HTTP %d: %.200s", status, out)
		}
		var v struct {
			App stormApp `json:"app"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.App.ID == "" || v.App.Key == "" || v.App.Secret == "" {
			return app, legacy, fmt.Errorf("POST /apps: unexpected answer %.200s (%v)", out, err)
		}
		return v.App, legacy, nil
	}
}

// stormSocket holds channels of the storm app until it is dropped.
type stormSocket struct {
	c       *bench.Conn
	ok      atomic.Int64 // subscription_succeeded received
	ready   chan struct{}
	window  chan struct{} // one token per subscription not yet answered
	done    chan struct{} // the read loop ended
	dropped atomic.Bool
	err     error // why the read loop ended early; read after done
}

// read counts subscription_succeeded until want, then keeps reading so
// the server never queues for it, until the socket is dropped.
func (s *stormSocket) read(want int) {
	defer close(s.done)
	for {
		msg, err := s.c.Next()
		if err != nil {
			if !s.dropped.Load() {
				s.err = err
			}
			return
		}
		switch ev := bench.EventName(msg); {
		case bytes.Equal(ev, evSucceeded):
			select {
			case <-s.window:
			default:
			}
			if s.ok.Add(1) == int64(want) {
				close(s.ready)
			}
		case bytes.Equal(ev, evPing):
			_ = s.c.Pong()
		case bytes.Equal(ev, evError), bytes.Equal(ev, []byte("pusher:subscription_error")):
			s.err = fmt.Errorf("unexpected frame %.200s", msg)
			_ = s.c.Abort()
			return
		}
	}
}

// drop closes the socket without a close frame.
func (s *stormSocket) drop() {
	s.dropped.Store(true)
	_ = s.c.Abort()
}

// openStormSockets opens n sockets, each subscribed to perSocket fresh
// public channels, and waits until every subscription succeeded.
func openStormSockets(ctx context.Context, d *bench.Dialer, n, perSocket int) ([]*stormSocket, error) {
	socks := make([]*stormSocket, n)
	errs := make(chan error, n)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		s := &stormSocket{ready: make(chan struct{}), window: make(chan struct{}, subscribeWindow), done: make(chan struct{})}
		socks[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialRetry503(ctx, d, &refused)
			if err != nil {
				close(s.done)
				errs <- fmt.Errorf("storm dial: %w", err)
				return
			}
			s.c = c
			go s.read(perSocket)
			for j := range perSocket {
				select {
				case s.window <- struct{}{}:
				case <-s.done:
				}
				if err := c.Subscribe(fmt.Sprintf("%s%d-%d", stormPrefix, i, j), "", ""); err != nil {
					errs <- fmt.Errorf("storm subscribe: %w", err)
					return
				}
			}
			select {
			case <-s.ready:
			case <-s.done:
				errs <- fmt.Errorf("storm socket ended after %d of %d subscriptions: %v", s.ok.Load(), perSocket, s.err)
			case <-time.After(30 * time.Second):
				errs <- fmt.Errorf("storm socket: %d of %d subscriptions succeeded within 30 s", s.ok.Load(), perSocket)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		dropAll(socks)
		return nil, err
	}
	return socks, nil
}

func dropAll(socks []*stormSocket) {
	for _, s := range socks {
		if s != nil && s.c != nil {
			s.drop()
			<-s.done
		}
	}
}

// probeStats are one prober's subscribes during the storm.
type probeStats struct {
	n        int
	worst    time.Duration
	errs     int
	firstErr string
}

// probe subscribes c to a fresh channel every probeInterval until stop,
// timing each subscription_succeeded.
func probe(c *bench.Conn, prefix string, stop <-chan struct{}, st *probeStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		channel := fmt.Sprintf("%s%d", prefix, i)
		t0 := time.Now()
		// Next has no deadline: a server that never answers is cut here.
		stuck := time.AfterFunc(10*time.Second, func() { _ = c.Abort() })
		err := subscribeOne(c, channel)
		stuck.Stop()
		took := time.Since(t0)
		if err != nil {
			st.errs++
			st.firstErr = fmt.Sprintf("%s after %v: %v", channel, took.Round(time.Millisecond), err)
			return
		}
		st.n++
		st.worst = max(st.worst, took)
		select {
		case <-stop:
			return
		case <-time.After(probeInterval):
		}
	}
}

// subscribeOne subscribes and reads until that channel's
// subscription_succeeded.
func subscribeOne(c *bench.Conn, channel string) error {
	if err := c.Subscribe(channel, "", ""); err != nil {
		return err
	}
	want := []byte(`"channel":"` + channel + `"`)
	for {
		msg, err := c.Next()
		if err != nil {
			return err
		}
		switch ev := bench.EventName(msg); {
		case bytes.Equal(ev, evSucceeded) && bytes.Contains(msg, want):
			return nil
		case bytes.Equal(ev, evPing):
			_ = c.Pong()
		case bytes.Equal(ev, evError), bytes.Equal(ev, []byte("pusher:subscription_error")):
			return fmt.Errorf("unexpected frame %.200s", msg)
		}
	}
}

// stormResult is what the storm found.
type stormResult struct {
	setupErr       error
	appID          string
	legacy         bool // created without allow_private_targets (older server)
	channels       int
	subscribed     time.Duration // opening the sockets and all their subscriptions
	occupied       int           // channel_occupied received before the drop
	occupiedWait   time.Duration
	dropped        time.Time
	window         time.Duration // the drop to the end of probing
	main, own      probeStats    // the soak app's prober, the storm app's
	vacated        int           // storm channels named by a channel_vacated
	lastVacated    time.Duration // the drop to the last channel_vacated
	drops0, drops1 map[string]float64
	dropsErr       error
	badSig         int64
	undecodable    int64
	goroutines0    int // server goroutines just before the drop
	peakGoroutines int // highest sampled during the window
	deleteStatus   int
	deleteErr      error
}

// droppedEvents is how many storm events the server counted as dropped
// since drops0: queue_full and handoff_full count events; the other
// reasons count bodies of up to batchMax events each.
func (s *stormResult) droppedEvents() (events, bodies float64) {
	if s.drops0 == nil || s.drops1 == nil {
		return 0, 0
	}
	d := func(k string) float64 { return s.drops1[k] - s.drops0[k] }
	return d("queue_full") + d("handoff_full"), d("retries_exhausted") + d("refused_destination")
}

// accounted reports whether every storm channel's channel_vacated was
// received or counted as dropped.
func (s *stormResult) accounted() bool {
	events, bodies := s.droppedEvents()
	return float64(s.vacated)+events+batchMax*bodies >= float64(s.channels)
}

// stormRun is the storm's whole course; dropAt is when the sockets go.
type stormRun struct {
	o         *Options
	det       *detailedClient
	recv      *hookReceiver
	wsBase    string
	main      *bench.Dialer // the soak app, for its prober
	minWindow time.Duration // probing lasts at least this long after the drop
}

func (sr *stormRun) run(ctx context.Context, dropAt time.Time) *stormResult {
	o := sr.o
	res := &stormResult{channels: o.StormSockets * o.StormChannels}
	app, legacy, err := createStormApp(ctx, sr.det, sr.recv.url, o.StormChannels)
	if err != nil {
		res.setupErr = err
		return res
	}
	res.appID, res.legacy = app.ID, legacy
	sr.recv.setSecret(app.Secret)
	defer func() {
		// Closes whatever is left of the app's sockets with 4001, and
		// leaves the server as the baseline found it.
		res.deleteStatus, _, res.deleteErr = sr.det.admin(ctx, http.MethodDelete, "/apps/"+app.ID, nil)
		// The server's idle keep-alive connections to the receiver would
		// otherwise outlive the load and count as goroutine growth.
		sr.recv.srv.SetKeepAlivesEnabled(false)
	}()

	sd := bench.NewDialer(sr.wsBase, app.Key, nil, 10*time.Second)
	t0 := time.Now()
	socks, err := openStormSockets(ctx, sd, o.StormSockets, o.StormChannels)
	if err != nil {
		res.setupErr = err
		return res
	}
	defer dropAll(socks)
	res.subscribed = time.Since(t0)

	// Let the channel_occupied webhooks through first, so what follows
	// measures the vacated storm alone.
	t1 := time.Now()
	for time.Since(t1) < 30*time.Second {
		res.occupied = sr.recv.count("channel_occupied")
		if d, err := sr.det.webhookDrops(ctx); err == nil {
			res.drops0 = d
			if float64(res.occupied)+d["queue_full"]+d["handoff_full"] >= float64(res.channels) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.occupiedWait = time.Since(t1)
	if res.drops0 == nil {
		res.setupErr = errors.New("could not read pushi_webhook_dropped_total from /metrics")
		return res
	}

	// The probers are connected before the drop: the dial is not what is
	// measured.
	var refused atomic.Int64
	mainC, err := dialRetry503(ctx, sr.main, &refused)
	if err != nil {
		res.setupErr = fmt.Errorf("prober dial: %w", err)
		return res
	}
	defer mainC.Close()
	ownC, err := dialRetry503(ctx, sd, &refused)
	if err != nil {
		res.setupErr = fmt.Errorf("prober dial: %w", err)
		return res
	}
	defer ownC.Close()
	if det, err := sr.det.get(ctx, false); err == nil {
		res.goroutines0 = det.Runtime.Goroutines
	}
	sleepCtx(ctx, time.Until(dropAt))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); probe(mainC, "soak-probe-", stop, &res.main) }()
	go func() { defer wg.Done(); probe(ownC, "probe-", stop, &res.own) }()
	go func() {
		defer wg.Done()
		for {
			if det, err := sr.det.get(ctx, false); err == nil {
				res.peakGoroutines = max(res.peakGoroutines, det.Runtime.Goroutines)
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	dropped := time.Now()
	res.dropped = dropped
	for _, s := range socks {
		s.drop()
	}
	// The window lasts until every vacated is accounted for, and at
	// least past the 3 s delay and the release.
	for {
		res.vacated = sr.recv.count("channel_vacated")
		if d, err := sr.det.webhookDrops(ctx); err == nil {
			res.drops1, res.dropsErr = d, nil
		} else {
			res.dropsErr = err
		}
		el := time.Since(dropped)
		if (el >= sr.minWindow && res.accounted()) || el >= stormMaxWindow {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	res.window = time.Since(dropped)
	sr.recv.mu.Lock()
	if !sr.recv.lastVacated.IsZero() {
		res.lastVacated = sr.recv.lastVacated.Sub(dropped)
	}
	res.badSig, res.undecodable = sr.recv.badSig, sr.recv.undecodable
	sr.recv.mu.Unlock()
	return res
}

// reportStorm prints the storm's assertions.
func reportStorm(r *report, o *Options, s *stormResult, loadStart time.Time) {
	if s == nil {
		r.check(false, "storm ran", "the storm never started")
		return
	}
	if s.setupErr != nil {
		r.check(false, "storm ran", "%d sockets × %d channels: %v", o.StormSockets, o.StormChannels, s.setupErr)
		return
	}
	legacy := ""
	if s.legacy {
		legacy = " (server does not know allow_private_targets: created without it)"
	}
	r.info("storm app %s created through POST /apps%s: %d sockets × %d channels subscribed in %.1fs, %d channel_occupied received in %.1fs more; server goroutines %d before the drop, peak %d during the storm",
		s.appID, legacy, o.StormSockets, o.StormChannels, s.subscribed.Seconds(), s.occupied, s.occupiedWait.Seconds(), s.goroutines0, s.peakGoroutines)
	r.check(s.main.errs == 0 && s.own.errs == 0 && s.main.n >= 3 && s.own.n >= 3 && s.main.worst <= probeBound && s.own.worst <= probeBound,
		"storm: subscribes answered within 1 s",
		"over %.1fs from the drop of %d channels at %.1fs of the load: soak app %d probes, slowest %v; storm app %d probes, slowest %v%s",
		s.window.Seconds(), s.channels, s.dropped.Sub(loadStart).Seconds(), s.main.n, s.main.worst.Round(time.Millisecond), s.own.n, s.own.worst.Round(time.Millisecond),
		firstOf(strings.Join(slices.DeleteFunc([]string{s.main.firstErr, s.own.firstErr}, func(e string) bool { return e == "" }), "; ")))
	events, bodies := s.droppedEvents()
	var reasons []string
	for _, k := range []string{"queue_full", "handoff_full", "retries_exhausted", "refused_destination"} {
		reasons = append(reasons, fmt.Sprintf("%s +%.0f", k, s.drops1[k]-s.drops0[k]))
	}
	drops := strings.Join(reasons, ", ")
	if s.dropsErr != nil {
		drops = s.dropsErr.Error()
	}
	r.check(s.dropsErr == nil && s.accounted() && s.badSig == 0 && s.undecodable == 0,
		"storm: every channel_vacated received or counted dropped",
		"%d channels: %d channel_vacated received (the last %.1fs after the drop), pushi_webhook_dropped_total %s (%.0f events, %.0f bodies); %d bodies with a bad signature, %d undecodable",
		s.channels, s.vacated, s.lastVacated.Seconds(), drops, events, bodies, s.badSig, s.undecodable)
	r.check(s.deleteErr == nil && s.deleteStatus == http.StatusOK, "storm app deleted", "DELETE /apps/%s: HTTP %d%s", s.appID, s.deleteStatus, errSuffix(s.deleteErr))
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
