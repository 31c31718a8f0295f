package hub

import (
	"testing"
	"time"
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
	got := h.snapshot()
	if got.Count != 4 {
		t.Fatalf("count %d", got.Count)
	}
	if sum := got.Sum.Seconds(); sum < 3.002 || sum > 3.0021 {
		t.Errorf("sum %v", sum)
	}
	want := map[float64]uint64{10e-6: 2, 50e-6: 2, 1e-3: 2, 5e-3: 3, 1: 3}
	for i, ub := range got.Bounds {
		if w, ok := want[ub]; ok && got.Counts[i] != w {
			t.Errorf("le=%v: %d, want %d", ub, got.Counts[i], w)
		}
	}
}
