// Package soak is `pushi soak`: a bounded soak test against a running
// pushi on loopback. It holds thousands of subscribers, publishes
// continuously, churns connections, injects slow readers, malformed
// frames, a connection flood, a channel_vacated webhook storm and
// slow-body HTTP attackers, then asserts that healthy clients got every
// message in order, slow readers were closed with 4100, misbehaving
// clients got the documented answers, subscribes stayed prompt through
// the storm, stalled bodies were answered or closed within their bounds,
// and the server's goroutines and heap came back to their baseline once
// the load stopped.
package soak

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
)

// Options are the soak test's flags.
type Options struct {
	URL, AppID, Key, Secret, AdminToken string

	Duration       time.Duration
	Conns          int // healthy subscribers
	Channels       int
	Rate           int // tick publishes per second, all channels together
	Slow           int
	Churn          int
	Malformed      int // malformed connections per second
	Flood          int // connection attempts in the flood burst
	FloodWorkers   int
	OpenRate       int           // healthy connections opened per second
	HotRate        int           // 4 KB publishes per second to the slow readers' channel
	StormSockets   int           // sockets dropped at once in the channel_vacated storm
	StormChannels  int           // public channels each of them holds
	SlowBodies     int           // raw HTTP connections that stall their request body
	BodyTimeout    time.Duration // the server's PUSHI_HTTP_BODY_TIMEOUT
	BodySlack      time.Duration // allowed past it for the 408 and the close
	GoroutineSlack int
	HeapSlackMB    int
}

// Run parses args, runs the soak test and returns the exit code: 0 when
// every assertion passed, 1 when one failed, 2 for bad flags.
func Run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pushi soak:", err)
		return 2
	}
	if n, err := bench.RaiseNoFile(); err != nil || n < uint64(o.Conns+o.Slow+o.Churn+o.FloodWorkers+o.StormSockets+o.SlowBodies+256) {
		fmt.Fprintf(stderr, "pushi soak: open-file limit %d is too low for %d connections (%v)\n", n, o.Conns, err)
		return 2
	}
	r := &report{w: stdout}
	if err := run(o, r); err != nil {
		fmt.Fprintln(stdout, "FAIL  soak aborted:", err)
		return 1
	}
	return r.exitCode()
}

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("pushi soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server base URL (loopback only); WebSocket and HTTP API on the same listener")
	fs.StringVar(&o.AppID, "app-id", "", "app id")
	fs.StringVar(&o.Key, "key", "", "app key")
	fs.StringVar(&o.Secret, "secret", "", "app secret")
	fs.StringVar(&o.AdminToken, "admin-token", "", "admin token, for /health/detailed and the storm app (POST and DELETE /apps)")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "how long the load runs")
	fs.IntVar(&o.Conns, "conns", 3000, "healthy subscribers")
	fs.IntVar(&o.Channels, "channels", 0, "public channels the healthy subscribers spread over (default conns/20)")
	fs.IntVar(&o.Rate, "rate", 200, "tick publishes per second over all channels")
	fs.IntVar(&o.Slow, "slow", 20, "slow readers (never read; must be closed with 4100)")
	fs.IntVar(&o.Churn, "churn", 50, "concurrent churners (connect, subscribe, leave)")
	fs.IntVar(&o.Malformed, "malformed", 20, "malformed-frame connections per second")
	fs.IntVar(&o.Flood, "flood", 3000, "connection attempts in the flood burst (mid-run)")
	fs.IntVar(&o.FloodWorkers, "flood-workers", 64, "goroutines firing the flood")
	fs.IntVar(&o.OpenRate, "open-rate", 400, "healthy connections opened per second (stay under the server's connection rate)")
	fs.IntVar(&o.HotRate, "hot-rate", 200, "4 KB publishes per second to the slow readers' channel")
	fs.IntVar(&o.StormSockets, "storm-sockets", 20, "sockets of the channel_vacated storm, dropped at once (0: no storm)")
	fs.IntVar(&o.StormChannels, "storm-channels", 500, "public channels each storm socket holds")
	fs.IntVar(&o.SlowBodies, "slow-bodies", 32, "raw HTTP API connections that stall their body, half of them authenticated (0: none)")
	fs.DurationVar(&o.BodyTimeout, "body-timeout", 10*time.Second, "the server's PUSHI_HTTP_BODY_TIMEOUT, which bounds the authenticated slow bodies")
	fs.DurationVar(&o.BodySlack, "body-slack", 2*time.Second, "allowed past -body-timeout for a stalled body's 408 and close")
	fs.IntVar(&o.GoroutineSlack, "goroutine-slack", 50, "allowed server goroutines over the baseline after the load")
	fs.IntVar(&o.HeapSlackMB, "heap-slack-mb", 16, "allowed server heap MiB over the baseline after the load")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.AppID == "" || o.Key == "" || o.Secret == "" || o.AdminToken == "" {
		return nil, errors.New("-app-id, -key, -secret and -admin-token are required")
	}
	if err := bench.CheckLoopbackURL(o.URL, "http"); err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.Channels <= 0 {
		o.Channels = max(1, o.Conns/20)
	}
	if o.Conns < 1 || o.Rate < 1 || o.OpenRate < 1 || o.HotRate < 1 || o.Duration < 5*time.Second ||
		o.Slow < 0 || o.Churn < 0 || o.Malformed < 0 || o.Flood < 0 || o.FloodWorkers < 1 ||
		o.StormSockets < 0 || o.StormChannels < 1 || o.SlowBodies < 0 || o.BodySlack <= 0 {
		return nil, errors.New("-conns, -rate, -open-rate, -hot-rate, -flood-workers, -storm-channels, -body-slack must be positive, -duration at least 5s, the rest not negative")
	}
	if o.BodyTimeout < time.Second || o.BodyTimeout > 30*time.Second {
		return nil, errors.New("-body-timeout must be from 1s to 30s, as PUSHI_HTTP_BODY_TIMEOUT")
	}
	return o, nil
}

// run drives the phases; it returns an error only when the test cannot go
// on (server unreachable, healthy clients cannot connect).
func run(o *Options, r *report) error {
	ctx := context.Background()
	wsURL := "ws" + strings.TrimPrefix(o.URL, "http") + "/app/" + o.Key + "?protocol=7&client=soak&version=1"
	det := newDetailedClient(o.URL, o.AdminToken)

	// 1. Baseline, after a GC so the heap figure is live data only.
	base, err := det.get(ctx, true)
	if err != nil {
		return err
	}
	r.info("baseline: %d goroutines, heap %s, %d connections", base.Runtime.Goroutines, mib(base.Runtime.HeapAllocBytes), base.Connections.Current)
	var recv *hookReceiver
	if o.StormSockets > 0 {
		if recv, err = startReceiver(); err != nil {
			return fmt.Errorf("webhook receiver: %w", err)
		}
		defer recv.close()
	}

	// 2. Healthy subscribers, all subscribed before anything is published,
	// so each must see its channel's seq 1..N exactly.
	dialer := bench.NewDialer("ws"+strings.TrimPrefix(o.URL, "http"), o.Key, nil, 10*time.Second)
	t0 := time.Now()
	healthy, refused, err := openHealthy(ctx, dialer, o.Conns, o.Channels, o.OpenRate)
	if err != nil {
		return err
	}
	r.info("opened %d healthy subscribers on %d channels in %.1fs (%d dials refused with 503 and retried)", len(healthy), o.Channels, time.Since(t0).Seconds(), refused)
	slow, err := openSlow(ctx, wsURL, o.Slow)
	if err != nil {
		closeAll(healthy)
		return err
	}
	r.info("opened %d slow readers on %s (SO_RCVBUF 4096)", len(slow), hotChannel)

	// 3. The load, for the duration.
	pub := bench.NewPublisher(o.URL, bench.Signer{AppID: o.AppID, Key: o.Key, Secret: o.Secret}, 32)
	ticks := newTickPublisher(pub, o.Channels)
	hot := &hotPublisher{pub: pub}
	churn := &churnStats{}
	malformed := newMalformedStats()
	var flood *floodStats
	var slowOut []slowOutcome
	var tripped uint64
	var tripTime time.Duration
	var trippedOK bool

	loadCtx, stopLoad := context.WithTimeout(ctx, o.Duration)
	defer stopLoad()
	loadStart := time.Now()
	churn.start = loadStart
	var wg sync.WaitGroup
	spawn := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	spawn(func() { ticks.run(loadCtx, o.Rate) })
	// The storm drops at a quarter of the run and the slow bodies start at
	// three quarters, clear of the flood at half, so that a failure points
	// at one attacker. Both run to their end even past the load's.
	var storm *stormResult
	if o.StormSockets > 0 {
		sr := &stormRun{o: o, det: det, recv: recv, wsBase: "ws" + strings.TrimPrefix(o.URL, "http"), main: dialer, minWindow: stormMinWindow}
		spawn(func() { storm = sr.run(ctx, loadStart.Add(o.Duration/4)) })
	}
	var slowBodies *slowBodyResult
	if o.SlowBodies > 0 {
		spawn(func() {
			sleepCtx(ctx, time.Until(loadStart.Add(3*o.Duration/4)))
			slowBodies = runSlowBodies(ctx, o, det)
		})
	}
	spawn(func() { runChurn(loadCtx, dialer, o.Churn, o.Channels, churn) })
	spawn(func() { runMalformed(loadCtx, wsURL, o.Malformed, malformed) })
	spawn(func() {
		select {
		case <-loadCtx.Done():
			return
		case <-time.After(o.Duration / 2):
		}
		churn.flood.start.Store(time.Now().UnixNano())
		flood = runFlood(loadCtx, wsURL, o.Flood, o.FloodWorkers)
		churn.flood.end.Store(time.Now().UnixNano())
	})
	if len(slow) > 0 {
		spawn(func() {
			// Feed the hot channel until the server has dropped every slow
			// reader, then let them read at once: the server gives up
			// writing the close frame after its 10 s write timeout, so
			// "never read" means "not until the server dropped you".
			hotCtx, stopHot := context.WithCancel(loadCtx)
			go hot.run(hotCtx, o.HotRate)
			tripped, tripTime, trippedOK = waitTripped(ctx, det, base.SlowConsumerDisconnects, len(slow), o.Duration)
			stopHot()
			slowOut = verifyAll(slow)
		})
	}
	wg.Wait()
	r.info("load ran %.1fs", time.Since(loadStart).Seconds())

	// 4. Load stopped: let the last ticks arrive, then check everything.
	time.Sleep(2 * time.Second)
	hr := checkHealthy(healthy, ticks.published, ticks.tainted)
	sent, failed := ticks.sent.Load(), ticks.failed.Load()
	r.check(failed == 0 && hot.failed.Load() == 0, "publishes answered 200",
		"%d ticks on %d channels (%.0f/s of %d/s asked), %d 4 KB hot events; failed: %d ticks, %d hot (%s)",
		sent, o.Channels, float64(sent)/o.Duration.Seconds(), o.Rate, hot.sent.Load(), failed, hot.failed.Load(), orNone(pub.LastError()))
	r.check(hr.gaps == 0 && hr.behind == 0 && hr.short == 0 && hr.expected == hr.received && hr.badMsgs == 0 && sent > 0,
		"healthy clients got every tick in order",
		"%d clients, %d channels: expected %d, received %d, gaps %d, duplicates/out-of-order %d, clients short %d, unexpected frames %d%s",
		hr.clients, hr.channels, hr.expected, hr.received, hr.gaps, hr.behind, hr.short, hr.badMsgs, firstOf(hr.firstBad))
	r.check(hr.disconnected == 0, "healthy clients never disconnected",
		"%d of %d disconnected%s", hr.disconnected, hr.clients, firstOf(hr.firstDisco))

	if len(slow) > 0 {
		ok, prefix, why := 0, int64(0), ""
		for _, s := range slowOut {
			if s.ok {
				ok++
			} else if why == "" {
				why = s.why
			}
			prefix += s.ticks
		}
		r.check(trippedOK && ok == len(slow), "slow readers closed with 4100",
			"%d of %d: in-order prefix (avg %d ticks), pusher:error 4100, close 4100; server counted %d slow consumers %.1fs after the hot feed started%s",
			ok, len(slow), prefix/int64(len(slow)), tripped, tripTime.Seconds(), firstOf(why))
	}
	r.check(churn.errors.Load() == 0 && churn.cycles.Load() > 0, "churn cycles without errors",
		"%d cycles (%d clean closes, %d dropped sockets), %d refused with 503 and %d TCP connects timed out during the flood, %d errors%s",
		churn.cycles.Load(), churn.clean.Load(), churn.dropped.Load(), churn.refused.Load(), churn.delayed.Load(), churn.errors.Load(), firstOf(churn.firstErr))
	reportMalformed(r, malformed)
	if flood != nil {
		r.check(flood.refused.Load() > 0 && flood.other.Load() == 0 && flood.bad503.Load() == 0, "flood: some refused with 503, no other errors",
			"%d attempts in %.2fs from %.1fs of the load: %d upgraded, %d refused 503 (%d without Retry-After/JSON body), %d other errors%s",
			flood.attempts.Load(), flood.elapsed.Seconds(), time.Unix(0, churn.flood.start.Load()).Sub(loadStart).Seconds(), flood.upgraded.Load(), flood.refused.Load(), flood.bad503.Load(), flood.other.Load(), firstOf(flood.firstErr))
	} else if o.Flood > 0 {
		r.check(false, "flood ran", "the load ended before the flood started")
	}
	if o.StormSockets > 0 {
		reportStorm(r, o, storm, loadStart)
	}
	if o.SlowBodies > 0 {
		reportSlowBodies(r, o, slowBodies, loadStart)
	}

	// Close everything, then wait for the server to forget it all.
	closeAll(healthy)
	pub.Close()
	var cur int64 = -1
	var end *Detailed
	deadline := time.Now().Add(15 * time.Second)
	t1 := time.Now()
	for time.Now().Before(deadline) {
		if end, err = det.get(ctx, false); err == nil {
			if cur = end.Connections.Current; cur == 0 {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.check(cur == 0, "connections drained after the load", "connections.current %d, %.1fs after closing", cur, time.Since(t1).Seconds())
	if end != nil && len(slow) > 0 {
		n := end.Connections.ClosedByCode["4100"] - base.Connections.ClosedByCode["4100"]
		r.check(n >= uint64(len(slow)) && end.SlowConsumerDisconnects-base.SlowConsumerDisconnects >= uint64(len(slow)),
			"server counted the 4100 closes", "closed_by_code[4100] +%d, slow_consumer_disconnects +%d, want >= %d each",
			n, end.SlowConsumerDisconnects-base.SlowConsumerDisconnects, len(slow))
	}
	if end != nil {
		r.info("server counters: accepted %d, closed %d, rate_limited %d, closed_by_code %v, messages sent %d",
			end.Connections.Accepted, end.Connections.Closed, end.Connections.RateLimited, end.Connections.ClosedByCode, end.Messages.Sent)
	}

	// Leaks: with no connection left, goroutines and live heap must be
	// back near the baseline. A second of grace lets closing goroutines
	// (close-grace timers, HTTP keep-alives) finish.
	time.Sleep(time.Second)
	after, err := det.get(ctx, true)
	if err != nil {
		r.check(false, "server answers after the load", "%v", err)
		return nil
	}
	g0, g1 := base.Runtime.Goroutines, after.Runtime.Goroutines
	r.check(g1 <= g0+o.GoroutineSlack, "no goroutine growth", "%d after vs %d baseline (bound +%d)", g1, g0, o.GoroutineSlack)
	h0, h1 := base.Runtime.HeapAllocBytes, after.Runtime.HeapAllocBytes
	r.check(h1 <= h0+uint64(o.HeapSlackMB)<<20, "no heap growth", "%s after vs %s baseline (bound +%d MiB; heap in use %s, sys %s)",
		mib(h1), mib(h0), o.HeapSlackMB, mib(after.Runtime.HeapInuseBytes), mib(after.Runtime.SysBytes))
	return nil
}

func closeAll(hs []*healthyClient) {
	for _, h := range hs {
		h.close()
	}
}

func reportMalformed(r *report, st *malformedStats) {
	st.mu.Lock()
	defer st.mu.Unlock()
	total, bad := 0, 0
	var parts []string
	for _, k := range malformedKinds {
		ok, b := st.ok[k.name], st.bad[k.name]
		total += ok + b
		bad += b
		p := fmt.Sprintf("%s %d/%d", k.name, ok, ok+b)
		if codes := st.codes[k.name]; len(codes) > 0 {
			p += fmt.Sprint(" ", codes)
		}
		parts = append(parts, p)
	}
	r.check(bad == 0 && total > 0, "malformed clients got the documented answer",
		"%d connections, %d wrong, %d refused with 503 during the flood: %s%s",
		total, bad, st.refused.Load(), strings.Join(parts, ", "), firstOf(st.firstBad))
}

// report prints one line per assertion and remembers failures.
type report struct {
	w      io.Writer
	failed int
}

func (r *report) info(format string, args ...any) {
	fmt.Fprintf(r.w, "      "+format+"\n", args...)
}

func (r *report) check(ok bool, name, format string, args ...any) {
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.w, "%s  %s: %s\n", verdict, name, fmt.Sprintf(format, args...))
}

func (r *report) exitCode() int {
	if r.failed > 0 {
		fmt.Fprintf(r.w, "soak: %d assertion(s) failed\n", r.failed)
		return 1
	}
	fmt.Fprintln(r.w, "soak: all assertions passed")
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func firstOf(s string) string {
	if s == "" {
		return ""
	}
	return "; first: " + s
}

func orNone(s string) string {
	if s == "" {
		return "no error"
	}
	return "last error: " + s
}
