package bench

import (
	"context"
	"fmt"
	"time"
)

// runSaturate steps the publish rate up by -factor until a step loses more
// than -max-loss percent, its p99 exceeds -max-p99, or the publisher cannot
// reach the target rate; the knee is the last step that passed.
func runSaturate(ctx context.Context, o *Options, r *Report) error {
	r.Param("start", o.Start)
	r.Param("factor", o.Factor)
	r.Param("step_duration", o.StepDuration.String())
	r.Param("max_steps", o.MaxSteps)
	r.Param("max_loss_pct", o.MaxLossPct)
	r.Param("max_p99_ms", ms(int64(o.MaxP99)))
	serverRSS(o, r, "server_rss_before_mib")
	rig, err := setupFanout(ctx, o, r, o.MaxSteps)
	defer rig.close()
	if err != nil {
		return err
	}
	var knee *roundResult
	stop := "max-steps reached"
	rate := o.Start
	for step := 0; step < o.MaxSteps && ctx.Err() == nil; step++ {
		res := rig.runRound(ctx, step, rate, o.StepDuration)
		p99 := time.Duration(res.lat.Quantile(0.99))
		verdict := "ok"
		switch {
		case res.expected == 0:
			verdict = "no-deliveries"
		case res.lossPct > o.MaxLossPct:
			verdict = fmt.Sprintf("loss>%g%%", o.MaxLossPct)
		case p99 > o.MaxP99:
			verdict = fmt.Sprintf("p99>%v", o.MaxP99)
		case res.achieved < 0.9*rate:
			verdict = "publisher-bound"
		}
		s := ordered{
			{"step", step + 1},
			{"target_pub_s", round3(rate)},
			{"pub_s", round3(res.achieved)},
			{"deliv_s", round3(res.deliveriesPerS)},
			{"loss_pct", round3(res.lossPct)},
			{"p50_ms", round3(ms(res.lat.Quantile(0.5)))},
			{"p99_ms", round3(ms(int64(p99)))},
			{"max_ms", round3(ms(res.lat.Max()))},
			{"pub_p99_ms", round3(ms(res.pubLat.Quantile(0.99)))},
			{"pub_errors", res.pubErrors},
			{"tool_cpu_pct", round3(res.tool.OfCore)},
		}
		if res.serverOK {
			s = append(s, kv{"server_cpu_pct", round3(res.server.OfCore)})
		}
		s = append(s, kv{"verdict", verdict})
		r.Steps = append(r.Steps, s)
		o.logf("step %d: target %.0f/s, published %.0f/s, %.0f deliveries/s, loss %.3f%%, p99 %.1f ms: %s",
			step+1, rate, res.achieved, res.deliveriesPerS, res.lossPct, ms(int64(p99)), verdict)
		if verdict != "ok" {
			stop = verdict
			break
		}
		k := res
		knee = &k
		rate *= o.Factor
	}
	r.Metric("steps_run", float64(len(r.Steps)), "")
	if knee != nil {
		r.Metric("knee_publishes_per_s", knee.achieved, "/s")
		r.Metric("knee_deliveries_per_s", knee.deliveriesPerS, "/s")
		r.Metric("knee_latency_p50_ms", ms(knee.lat.Quantile(0.5)), "ms")
		r.Metric("knee_latency_p99_ms", ms(knee.lat.Quantile(0.99)), "ms")
		r.Metric("knee_tool_cpu_core_pct", knee.tool.OfCore, "% of one core")
		if knee.serverOK {
			r.Metric("knee_server_cpu_core_pct", knee.server.OfCore, "% of one core")
		}
	} else {
		r.Metric("knee_publishes_per_s", 0, "/s")
		r.Metric("knee_deliveries_per_s", 0, "/s")
	}
	r.Metric("dropped_connections", float64(rig.f.dropped.Load()), "")
	serverRSS(o, r, "server_rss_after_mib")
	r.note("stopped: %s", stop)
	if stop == "publisher-bound" {
		r.note("the HTTP publisher could not reach the target rate: raise -publishers, or the knee is the API's publish rate")
	}
	if e := rig.pub.LastError(); e != "" {
		r.note("last publish error: %s", e)
	}
	return ctx.Err()
}
