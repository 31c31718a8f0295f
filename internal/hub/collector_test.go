package hub

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestCloseCountsBounded(t *testing.T) {
	var cc closeCounts
	cc.add(1000)
	cc.add(0)    // no close frame: counted as 1006
	cc.add(4100) // slow consumer
	cc.add(3999) // anything a client makes up
	cc.add(65535)
	want := map[int]uint64{1000: 1, 1006: 1, 4100: 1}
	for i, code := range closeCodes {
		if got := cc[i].Load(); got != want[code] {
			t.Errorf("code %d: %d, want %d", code, got, want[code])
		}
	}
	if got := cc[len(closeCodes)].Load(); got != 2 {
		t.Errorf("other: %d, want 2", got)
	}
}

func TestDurationHistCumulative(t *testing.T) {
	var h durationHist
	h.observe(5 * time.Microsecond)  // ≤ 10µs
	h.observe(10 * time.Microsecond) // upper bounds are inclusive
	h.observe(2 * time.Millisecond)  // ≤ 5ms
	h.observe(3 * time.Second)       // +Inf only
	var m dto.Metric
	if err := h.metric(prometheus.NewDesc("x", "x", nil, nil)).Write(&m); err != nil {
		t.Fatal(err)
	}
	hist := m.GetHistogram()
	if hist.GetSampleCount() != 4 {
		t.Fatalf("count %d", hist.GetSampleCount())
	}
	if sum := hist.GetSampleSum(); sum < 3.002 || sum > 3.0021 {
		t.Errorf("sum %v", sum)
	}
	want := map[float64]uint64{10e-6: 2, 50e-6: 2, 1e-3: 2, 5e-3: 3, 1: 3}
	for _, b := range hist.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
}
