package bench

import (
	"context"
	"fmt"
	"time"
)

// runConns opens -n idle connections at -connect-rate, each subscribed to
// one of -channels channels, holds them for -hold and closes them.
func runConns(ctx context.Context, o *Options, r *Report) error {
	r.Param("n", o.N)
	r.Param("channels", o.Channels)
	r.Param("connect_rate", o.ConnectRate)
	r.Param("hold", o.Hold.String())
	r.Param("sources", len(o.Sources))
	rssBefore := serverRSS(o, r, "server_rss_before_mib")
	selfBefore := selfRSS()
	f := newFleet(o, o.N)
	defer f.close()
	f.channel = func(i int) string { return fmt.Sprintf("%s-%s-%d", o.Prefix, o.runID, i%o.Channels) }
	o.logf("opening %d connections at %.0f/s", o.N, o.ConnectRate)
	cpu0 := selfCPU()
	took, err := f.open(ctx)
	cpu := cpuBetween(cpu0, selfCPU())
	connected := f.connected.Load()
	r.Metric("connected", float64(connected), "")
	r.Metric("subscribed", float64(f.subscribed.Load()), "")
	r.Metric("connect_failures", float64(f.connFail.Load()), "")
	r.Metric("subscribe_failures", float64(f.subFail.Load()), "")
	r.Metric("connect_s", took.Seconds(), "s")
	if took > 0 {
		r.Metric("connect_rate_achieved", float64(connected)/took.Seconds(), "/s")
	}
	r.Metric("handshake_p50_ms", ms(f.handshake.Quantile(0.5)), "ms")
	r.Metric("handshake_p99_ms", ms(f.handshake.Quantile(0.99)), "ms")
	r.Metric("handshake_max_ms", ms(f.handshake.Max()), "ms")
	r.Metric("subscribe_p50_ms", ms(f.subscribe.Quantile(0.5)), "ms")
	r.Metric("subscribe_p99_ms", ms(f.subscribe.Quantile(0.99)), "ms")
	r.Metric("tool_cpu_core_pct", cpu.OfCore, "% of one core, connect phase")
	r.Metric("tool_cpu_machine_pct", cpu.OfCores, fmt.Sprintf("%% of %d cores, connect phase", cpu.NumCores))
	if e := f.LastError(); e != "" {
		r.note("last connection error: %s", e)
	}
	if err != nil {
		return err
	}
	if connected == 0 && o.N > 0 {
		return fmt.Errorf("no connection succeeded: %s", f.LastError())
	}
	// Let the server settle (GC, lazily allocated buffers) before measuring.
	sleepCtx(ctx, time.Second)
	if rssBefore > 0 {
		after := serverRSS(o, r, "server_rss_after_mib")
		if after > 0 && connected > 0 {
			r.Metric("server_bytes_per_conn", (float64(after)-float64(rssBefore))/float64(connected), "B")
		}
	}
	if self := selfRSS(); connected > 0 && self > 0 {
		r.Metric("tool_bytes_per_conn", (float64(self)-float64(selfBefore))/float64(connected), "B")
	}
	o.logf("holding %d connections for %v", connected, o.Hold)
	sleepCtx(ctx, o.Hold)
	r.Metric("dropped_during_hold", float64(f.dropped.Load()), "")
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
