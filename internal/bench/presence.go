package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	evMemberAdded   = []byte("pusher_internal:member_added")
	evMemberRemoved = []byte("pusher_internal:member_removed")
)

// presenceRun tracks members joining and leaving presence channels and the
// member events observers see for them.
type presenceRun struct {
	o         *Options
	channels  []string
	joinSent  []atomic.Int64 // Unix ns the subscribe was sent, per member
	leaveSent []atomic.Int64 // Unix ns the unsubscribe was sent, 0 = did not leave cleanly
	joined    []atomic.Bool
	added     []atomic.Int32 // member_added seen by observers, per member
	removed   []atomic.Int32
	joinLat   *Histogram // subscribe → subscription_succeeded
	addedLat  *Sharded   // subscribe sent → observer's member_added
	remLat    *Sharded   // unsubscribe sent → observer's member_removed
	joinFail  atomic.Uint64
	dropped   atomic.Uint64
	strays    atomic.Uint64 // member events for unknown or not-joined ids
	mu        sync.Mutex
	lastErr   string
}

func (p *presenceRun) setErr(format string, args ...any) {
	p.mu.Lock()
	p.lastErr = fmt.Sprintf(format, args...)
	p.mu.Unlock()
}

func memberData(idx int) string {
	return `{"user_id":"m` + strconv.Itoa(idx) + `","user_info":{"i":` + strconv.Itoa(idx) + `}}`
}

// runPresence: -observers per channel subscribe first; then -members join
// (one connection each) at -rate, stay -stay, unsubscribe and disconnect.
// Every observer must see one member_added and one member_removed per member.
func runPresence(ctx context.Context, o *Options, r *Report) error {
	n := o.Members
	p := &presenceRun{
		o:         o,
		joinSent:  make([]atomic.Int64, n),
		leaveSent: make([]atomic.Int64, n),
		joined:    make([]atomic.Bool, n),
		added:     make([]atomic.Int32, n),
		removed:   make([]atomic.Int32, n),
		joinLat:   new(Histogram),
		addedLat:  NewSharded(shards()),
		remLat:    NewSharded(shards()),
	}
	p.channels = make([]string, o.Channels)
	for c := range p.channels {
		p.channels[c] = fmt.Sprintf("presence-%s-%s-%d", o.Prefix, o.runID, c)
	}
	r.Param("members", n)
	r.Param("channels", o.Channels)
	r.Param("observers_per_channel", o.Observers)
	r.Param("rate", o.Rate)
	r.Param("stay", o.Stay.String())
	if conc := o.Rate*o.Stay.Seconds()/float64(o.Channels) + float64(o.Observers); conc > 90 {
		r.note("about %.0f members at a time per channel: near the default limit of 100 members per presence channel", conc)
	}

	rssBefore := serverRSS(o, r, "server_rss_before_mib")
	obs := newFleet(o, o.Observers*o.Channels)
	defer obs.close()
	obs.channel = func(i int) string { return p.channels[i%len(p.channels)] }
	obs.auth = func(socketID, ch string, i int) (string, string) {
		data := `{"user_id":"o` + strconv.Itoa(i) + `"}`
		return o.signer.ChannelAuth(socketID, ch, data), data
	}
	obs.onEvent = p.observe
	o.logf("opening %d observers", len(obs.conns))
	if _, err := obs.open(ctx); err != nil {
		return err
	}
	obsPer := make([]int32, len(p.channels))
	for i := range obs.conns {
		if obs.ok(i) {
			obsPer[i%len(p.channels)]++
		}
	}
	r.Metric("observers_subscribed", float64(obs.subscribed.Load()), "")
	if obs.subscribed.Load() == 0 && len(obs.conns) > 0 {
		return fmt.Errorf("no observer could subscribe: %s", obs.LastError())
	}
	if obs.subscribed.Load() < uint64(len(obs.conns)) {
		r.note("observer failures: %s", obs.LastError())
	}

	o.logf("%d members joining at %.0f/s, staying %v", n, o.Rate, o.Stay)
	cpu0 := selfCPU()
	var wg sync.WaitGroup
	_ = pace(ctx, n, o.Rate, func(idx int) {
		wg.Add(1)
		go p.member(ctx, idx, &wg)
	})
	wg.Wait()
	// Wait for the observers to see every member event (bounded by -drain).
	complete := func() bool {
		for idx := range n {
			if !p.joined[idx].Load() {
				continue
			}
			want := obsPer[idx%len(p.channels)]
			if p.added[idx].Load() < want || p.removed[idx].Load() < want {
				return false
			}
		}
		return true
	}
	for t0 := time.Now(); time.Since(t0) < o.Drain && ctx.Err() == nil && !complete(); {
		time.Sleep(20 * time.Millisecond)
	}
	cpu := cpuBetween(cpu0, selfCPU())

	var joined, expected, missedAdded, missedRemoved, dupes uint64
	for idx := range n {
		if !p.joined[idx].Load() {
			continue
		}
		joined++
		want := obsPer[idx%len(p.channels)]
		expected += uint64(want)
		a, rm := p.added[idx].Load(), p.removed[idx].Load()
		missedAdded += uint64(max(0, want-a))
		missedRemoved += uint64(max(0, want-rm))
		dupes += uint64(max(0, a-want) + max(0, rm-want))
	}
	al, rl := p.addedLat.Merged(), p.remLat.Merged()
	r.Metric("joins_ok", float64(joined), "")
	r.Metric("join_failures", float64(p.joinFail.Load()), "")
	r.Metric("join_p50_ms", ms(p.joinLat.Quantile(0.5)), "ms")
	r.Metric("join_p99_ms", ms(p.joinLat.Quantile(0.99)), "ms")
	r.Metric("join_max_ms", ms(p.joinLat.Max()), "ms")
	r.Metric("member_events_expected", float64(2*expected), "")
	r.Metric("member_added_missed", float64(missedAdded), "")
	r.Metric("member_removed_missed", float64(missedRemoved), "")
	r.Metric("member_events_duplicate", float64(dupes), "")
	r.Metric("member_added_p50_ms", ms(al.Quantile(0.5)), "ms")
	r.Metric("member_added_p99_ms", ms(al.Quantile(0.99)), "ms")
	r.Metric("member_removed_p50_ms", ms(rl.Quantile(0.5)), "ms")
	r.Metric("member_removed_p99_ms", ms(rl.Quantile(0.99)), "ms")
	r.Metric("members_dropped", float64(p.dropped.Load()), "")
	r.Metric("observers_dropped", float64(obs.dropped.Load()), "")
	r.Metric("tool_cpu_core_pct", cpu.OfCore, "% of one core")
	r.Metric("tool_cpu_machine_pct", cpu.OfCores, fmt.Sprintf("%% of %d cores", cpu.NumCores))
	if rssBefore > 0 {
		serverRSS(o, r, "server_rss_after_mib")
	}
	if p.strays.Load() > 0 {
		r.note("%d member events for members that never joined", p.strays.Load())
	}
	p.mu.Lock()
	if p.lastErr != "" {
		r.note("last member error: %s", p.lastErr)
	}
	p.mu.Unlock()
	if e := obs.LastError(); e != "" && obs.dropped.Load() > 0 {
		r.note("last observer error: %s", e)
	}
	return ctx.Err()
}

// observe runs on observer reader goroutines.
func (p *presenceRun) observe(i int, ev, msg []byte) {
	var counts []atomic.Int32
	var sent []atomic.Int64
	var lat *Sharded
	switch {
	case bytes.Equal(ev, evMemberAdded):
		counts, sent, lat = p.added, p.joinSent, p.addedLat
	case bytes.Equal(ev, evMemberRemoved):
		counts, sent, lat = p.removed, p.leaveSent, p.remLat
	default:
		return
	}
	id := scanString(msg, "user_id")
	if len(id) < 2 || id[0] != 'm' {
		return // another observer
	}
	idx, err := strconv.Atoi(string(id[1:]))
	if err != nil || idx < 0 || idx >= len(counts) {
		p.strays.Add(1)
		return
	}
	counts[idx].Add(1)
	if t := sent[idx].Load(); t > 0 {
		lat.Record(i, time.Now().UnixNano()-t)
	}
}

// member joins one presence channel on its own connection, stays, leaves.
func (p *presenceRun) member(ctx context.Context, idx int, wg *sync.WaitGroup) {
	defer wg.Done()
	o := p.o
	c, err := o.dialer.Dial(ctx)
	if err != nil {
		p.joinFail.Add(1)
		p.setErr("connect: %v", err)
		return
	}
	defer c.Abort()
	ch := p.channels[idx%len(p.channels)]
	data := memberData(idx)
	_ = c.nc.SetReadDeadline(time.Now().Add(o.Timeout))
	t0 := time.Now()
	p.joinSent[idx].Store(t0.UnixNano())
	if err := c.Subscribe(ch, o.signer.ChannelAuth(c.SocketID, ch, data), data); err != nil {
		p.joinFail.Add(1)
		p.setErr("subscribe: %v", err)
		return
	}
	for {
		msg, err := c.Next()
		if err != nil {
			p.joinFail.Add(1)
			p.setErr("waiting for subscription_succeeded: %v", err)
			return
		}
		ev := EventName(msg)
		if bytes.Equal(ev, evSucceeded) {
			break
		}
		if bytes.Equal(ev, evSubError) || bytes.Equal(ev, evError) {
			p.joinFail.Add(1)
			p.setErr("%.300s", msg)
			return
		}
		if bytes.Equal(ev, evPing) {
			_ = c.Pong()
		}
	}
	p.joinLat.Record(int64(time.Since(t0)))
	p.joined[idx].Store(true)
	// Stay: keep reading (other members' events) until it is time to leave.
	_ = c.nc.SetReadDeadline(time.Now().Add(o.Stay))
	for {
		msg, err := c.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			p.dropped.Add(1)
			p.setErr("member connection lost: %v", err)
			return
		}
		if bytes.Equal(EventName(msg), evPing) {
			_ = c.Pong()
		}
	}
	p.leaveSent[idx].Store(time.Now().UnixNano())
	_ = c.Unsubscribe(ch)
	_ = c.Close()
}
