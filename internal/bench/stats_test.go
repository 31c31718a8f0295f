package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
)

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456789, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(lo)/float64(halfCount) {
			t.Errorf("bucket [%d, %d] wider than 1/%d of its value", lo, hi, halfCount)
		}
	}
	// Buckets are contiguous and increasing.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d and %d: %d then %d", i-1, i, prevHi, lo)
		}
	}
}

func TestQuantileSmallExact(t *testing.T) {
	var h Histogram
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	cases := []struct {
		q    float64
		want int64
	}{
		{0, 1},
		{0.01, 1},
		{0.5, 50},
		{0.9, 90},
		{0.99, 99},
		{1, 100},
	}
	for _, c := range cases {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50.5 {
		t.Errorf("count %d min %d max %d mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

func TestQuantileMatchesSortedSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var samples []int64
	for i := 0; i < 100000; i++ {
		// log-normal-ish latencies from 10 µs to ~1 s, in ns
		v := int64(10_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*50))
		samples = append(samples, v)
		h.Record(v)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if d := float64(got-want) / float64(want); d > 0.016 || d < -0.016 {
			t.Errorf("p%v = %d, sorted samples say %d (%.2f%% off)", q*100, got, want, d*100)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
		t.Errorf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 {
		t.Fatalf("negative value: count %d max %d", h.Count(), h.Max())
	}
}

func TestShardedMerge(t *testing.T) {
	s := NewSharded(8)
	for i := 0; i < 1000; i++ {
		s.Record(i, int64(i+1))
	}
	m := s.Merged()
	if m.Count() != 1000 || m.Min() != 1 || m.Max() != 1000 {
		t.Fatalf("merged: count %d min %d max %d", m.Count(), m.Min(), m.Max())
	}
	if p := m.Quantile(0.5); p < 492 || p > 508 {
		t.Errorf("merged p50 = %d, want about 500", p)
	}
	c := NewCounter(4)
	for i := 0; i < 10; i++ {
		c.Add(i, 2)
	}
	if c.Load() != 20 {
		t.Errorf("counter = %d, want 20", c.Load())
	}
}
