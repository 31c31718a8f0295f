package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// One publishing round (the whole fanout run, or one saturate step). Every
// event's data carries its send time (bench_t, Unix ns), sequence number
// (bench_s) and round (bench_r); subscribers find them with a byte scan.
type round struct {
	lat      *Sharded // end-to-end latency, ns
	recv     *Counter
	last     []paddedTime // per shard: last receive, Unix ns
	pubLat   *Histogram   // HTTP publish round trip, ns
	expected atomic.Uint64
	start    time.Time
}

type paddedTime struct {
	t atomic.Int64
	_ [56]byte
}

func newRound() *round {
	n := shards()
	return &round{lat: NewSharded(n), recv: NewCounter(n), last: make([]paddedTime, n), pubLat: new(Histogram)}
}

func (r *round) deliver(i int, now, sent int64) {
	r.lat.Record(i, now-sent)
	r.recv.Add(i, 1)
	r.last[uint(i)%uint(len(r.last))].t.Store(now)
}

func (r *round) lastReceive() time.Time {
	var m int64
	for i := range r.last {
		if t := r.last[i].t.Load(); t > m {
			m = t
		}
	}
	if m == 0 {
		return r.start
	}
	return time.Unix(0, m)
}

var evBench = []byte("bench")

// fanoutRig is the subscriber fleet plus publisher shared by fanout and saturate.
type fanoutRig struct {
	o        *Options
	f        *fleet
	pub      *Publisher
	channels []string
	subsPer  []uint64 // subscribed connections per channel
	rounds   []*round
	seq      atomic.Int64
}

func setupFanout(ctx context.Context, o *Options, r *Report, nrounds int) (*fanoutRig, error) {
	rig := &fanoutRig{o: o, rounds: make([]*round, nrounds)}
	for i := range rig.rounds {
		rig.rounds[i] = newRound()
	}
	rig.channels = make([]string, o.Channels)
	for c := range rig.channels {
		rig.channels[c] = fmt.Sprintf("%s-%s-%d", o.Prefix, o.runID, c)
	}
	rig.f = newFleet(o, o.Subscribers)
	rig.f.channel = func(i int) string { return rig.channels[i%len(rig.channels)] }
	rig.f.onEvent = func(i int, ev, msg []byte) {
		if !bytes.Equal(ev, evBench) {
			return
		}
		now := time.Now().UnixNano()
		sent, ok1 := scanInt(msg, "bench_t")
		rd, ok2 := scanInt(msg, "bench_r")
		if ok1 && ok2 && rd >= 0 && rd < int64(len(rig.rounds)) {
			rig.rounds[rd].deliver(i, now, sent)
		}
	}
	rig.pub = NewPublisher(o.API, o.signer, max(o.Publishers, 1))
	r.Param("subscribers", o.Subscribers)
	r.Param("channels", o.Channels)
	r.Param("payload_bytes", o.Payload)
	r.Param("publishers", o.Publishers)
	r.Param("sources", len(o.Sources))
	o.logf("opening %d subscribers on %d channels at %.0f/s", o.Subscribers, o.Channels, o.ConnectRate)
	took, err := rig.f.open(ctx)
	r.Metric("subscribed", float64(rig.f.subscribed.Load()), "")
	r.Metric("subscribe_failures", float64(rig.f.connFail.Load()+rig.f.subFail.Load()), "")
	r.Metric("connect_s", took.Seconds(), "s")
	if e := rig.f.LastError(); e != "" {
		r.note("last connection error: %s", e)
	}
	if err != nil {
		return rig, err
	}
	rig.subsPer = make([]uint64, len(rig.channels))
	for i := range rig.f.conns {
		if rig.f.ok(i) {
			rig.subsPer[i%len(rig.channels)]++
		}
	}
	if rig.f.subscribed.Load() == 0 && o.Subscribers > 0 {
		return rig, fmt.Errorf("no subscriber could subscribe: %s", rig.f.LastError())
	}
	return rig, nil
}

func (rig *fanoutRig) close() {
	rig.f.close()
	rig.pub.Close()
}

// roundResult is what one round measured.
type roundResult struct {
	target, achieved      float64 // publishes per second
	published, pubErrors  uint64
	expected, received    uint64
	lossPct               float64
	deliveriesPerS        float64
	lat                   *Histogram
	pubLat                *Histogram
	tool                  cpuUse
	server                cpuUse
	serverOK              bool
	publishWall, drainFor time.Duration
}

// runRound publishes at rate for dur on round idx, then waits for the
// outstanding deliveries (at most o.Drain).
func (rig *fanoutRig) runRound(ctx context.Context, idx int, rate float64, dur time.Duration) roundResult {
	o := rig.o
	rd := rig.rounds[idx]
	n := int(rate*dur.Seconds() + 0.5)
	if n < 1 {
		n = 1
	}
	errs0 := rig.pub.Errors.Load()
	var srv0 cpuSample
	srvOK := false
	if o.ServerPID > 0 {
		s, err := procCPU(o.ServerPID)
		srv0, srvOK = s, err == nil
	}
	cpu0 := selfCPU()
	rd.start = time.Now()

	workers := max(o.Publishers, 1)
	jobs := make(chan int64, workers*4)
	var wg sync.WaitGroup
	var published atomic.Uint64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, o.Payload+96)
			for seq := range jobs {
				c := int(seq % int64(len(rig.channels)))
				buf = appendData(buf[:0], time.Now().UnixNano(), seq, idx, o.Payload)
				lat, ok := rig.pub.Publish("bench", rig.channels[c], buf)
				if ok {
					rd.pubLat.Record(int64(lat))
					rd.expected.Add(rig.subsPer[c])
					published.Add(1)
				}
			}
		}()
	}
	_ = pace(ctx, n, rate, func(int) { jobs <- rig.seq.Add(1) - 1 })
	close(jobs)
	wg.Wait()
	pubWall := time.Since(rd.start)

	drainStart := time.Now()
	for time.Since(drainStart) < o.Drain && ctx.Err() == nil && rd.recv.Load() < rd.expected.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	res := roundResult{
		target:      rate,
		published:   published.Load(),
		pubErrors:   rig.pub.Errors.Load() - errs0,
		expected:    rd.expected.Load(),
		received:    rd.recv.Load(),
		lat:         rd.lat.Merged(),
		pubLat:      rd.pubLat,
		tool:        cpuBetween(cpu0, selfCPU()),
		publishWall: pubWall,
		drainFor:    time.Since(drainStart),
	}
	if srvOK {
		if s, err := procCPU(o.ServerPID); err == nil {
			res.server, res.serverOK = cpuBetween(srv0, s), true
		}
	}
	res.achieved = float64(res.published) / pubWall.Seconds()
	if res.expected > 0 && res.received < res.expected {
		res.lossPct = 100 * float64(res.expected-res.received) / float64(res.expected)
	}
	if win := rd.lastReceive().Sub(rd.start).Seconds(); win > 0 {
		res.deliveriesPerS = float64(res.received) / win
	}
	return res
}

// appendData builds an event's data string of about size bytes.
func appendData(b []byte, sentNs, seq int64, roundIdx, size int) []byte {
	b = append(b, `{"bench_t":`...)
	b = strconv.AppendInt(b, sentNs, 10)
	b = append(b, `,"bench_s":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"bench_r":`...)
	b = strconv.AppendInt(b, int64(roundIdx), 10)
	b = append(b, `,"pad":"`...)
	for len(b)+2 < size {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

func (res *roundResult) metrics(r *Report) {
	r.Metric("publish_rate_target", res.target, "/s")
	r.Metric("publish_rate_achieved", res.achieved, "/s")
	r.Metric("publishes_ok", float64(res.published), "")
	r.Metric("publish_errors", float64(res.pubErrors), "")
	r.Metric("deliveries_expected", float64(res.expected), "")
	r.Metric("deliveries_received", float64(res.received), "")
	r.Metric("loss_pct", res.lossPct, "%")
	r.Metric("deliveries_per_s", res.deliveriesPerS, "/s")
	r.Metric("latency_p50_ms", ms(res.lat.Quantile(0.50)), "ms")
	r.Metric("latency_p90_ms", ms(res.lat.Quantile(0.90)), "ms")
	r.Metric("latency_p99_ms", ms(res.lat.Quantile(0.99)), "ms")
	r.Metric("latency_max_ms", ms(res.lat.Max()), "ms")
	r.Metric("latency_mean_ms", res.lat.Mean()/1e6, "ms")
	r.Metric("publish_http_p50_ms", ms(res.pubLat.Quantile(0.50)), "ms")
	r.Metric("publish_http_p99_ms", ms(res.pubLat.Quantile(0.99)), "ms")
	r.Metric("tool_cpu_core_pct", res.tool.OfCore, "% of one core")
	r.Metric("tool_cpu_machine_pct", res.tool.OfCores, fmt.Sprintf("%% of %d cores", res.tool.NumCores))
	if res.serverOK {
		r.Metric("server_cpu_core_pct", res.server.OfCore, "% of one core")
	}
}

func runFanout(ctx context.Context, o *Options, r *Report) error {
	r.Param("rate", o.Rate)
	r.Param("duration", o.Duration.String())
	rssBefore := serverRSS(o, r, "server_rss_before_mib")
	rig, err := setupFanout(ctx, o, r, 1)
	defer rig.close()
	if err != nil {
		return err
	}
	o.logf("publishing %.0f/s for %v to %d channels", o.Rate, o.Duration, len(rig.channels))
	res := rig.runRound(ctx, 0, o.Rate, o.Duration)
	res.metrics(r)
	r.Metric("dropped_connections", float64(rig.f.dropped.Load()), "")
	if rssBefore > 0 {
		serverRSS(o, r, "server_rss_after_mib")
	}
	if e := rig.pub.LastError(); e != "" {
		r.note("last publish error: %s", e)
	}
	if rig.f.dropped.Load() > 0 {
		r.note("last connection error: %s", rig.f.LastError())
	}
	return ctx.Err()
}

// serverRSS records the server's VmRSS (MiB) under name when -server-pid is set.
func serverRSS(o *Options, r *Report, name string) uint64 {
	if o.ServerPID <= 0 {
		return 0
	}
	rss, err := procRSS(o.ServerPID)
	if err != nil {
		r.note("server RSS: %v", err)
		return 0
	}
	r.Metric(name, float64(rss)/(1<<20), "MiB")
	return rss
}
