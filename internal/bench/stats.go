package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is HDR-style log-linear: values below 2^subBits are counted
// exactly; above, each power-of-two range is split into 2^(subBits-1) equal
// buckets, so a recorded value is known to within 1/64 (1.6 %) of itself.
// Memory is fixed (about 30 KiB per histogram) whatever the sample count.
const (
	subBits    = 7
	subCount   = 1 << subBits // 128 exact values, then 64 per octave
	halfCount  = subCount / 2 // buckets per octave
	numBuckets = subCount + (64-subBits)*halfCount
)

func bucketOf(v uint64) int {
	l := bits.Len64(v)
	if l <= subBits {
		return int(v)
	}
	shift := l - subBits
	top := v >> shift // in [64, 128)
	return subCount + (shift-1)*halfCount + int(top) - halfCount
}

// bucketRange returns the lowest and highest value that land in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := (i-subCount)/halfCount + 1
	top := uint64((i-subCount)%halfCount + halfCount)
	lo = top << shift
	return lo, lo + (1 << shift) - 1
}

// Histogram records non-negative integer values (nanoseconds here). Record is
// safe for concurrent use; it costs a few atomic adds.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
	min    atomic.Uint64 // stored as ^v so that the zero value means "none"
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[bucketOf(u)].Add(1)
	h.n.Add(1)
	h.sum.Add(u)
	for {
		m := h.max.Load()
		if u <= m || h.max.CompareAndSwap(m, u) {
			break
		}
	}
	for {
		m := h.min.Load()
		if ^u <= m || h.min.CompareAndSwap(m, ^u) {
			break
		}
	}
}

// Merge adds every count of o into h (o must not be recorded into meanwhile).
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	if m := o.min.Load(); m > h.min.Load() {
		h.min.Store(m)
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value (exact).
func (h *Histogram) Max() int64 { return int64(h.max.Load()) }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() int64 {
	if h.n.Load() == 0 {
		return 0
	}
	return int64(^h.min.Load())
}

// Mean is the exact arithmetic mean.
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0, 1] (nearest rank): the
// midpoint of the bucket holding the ceil(q·n)-th smallest value, clamped to
// the exact min and max. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := int64(lo + (hi-lo)/2)
			if mx := h.Max(); v > mx {
				v = mx
			}
			if mn := h.Min(); v < mn {
				v = mn
			}
			return v
		}
	}
	return h.Max()
}

// Sharded spreads recording over several histograms to avoid every reader
// goroutine hitting the same cache lines; Merged folds them for reporting.
type Sharded struct {
	shards []Histogram
}

// NewSharded makes n shards (at least one).
func NewSharded(n int) *Sharded {
	if n < 1 {
		n = 1
	}
	return &Sharded{shards: make([]Histogram, n)}
}

// Record adds v to the shard picked by key (for example a connection index).
func (s *Sharded) Record(key int, v int64) {
	s.shards[uint(key)%uint(len(s.shards))].Record(v)
}

// Merged returns one histogram holding every shard's values.
func (s *Sharded) Merged() *Histogram {
	h := new(Histogram)
	for i := range s.shards {
		h.Merge(&s.shards[i])
	}
	return h
}

// ms converts nanoseconds to float milliseconds for reports.
func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

// Counter is a sharded counter (one cache line per shard).
type Counter struct {
	shards []paddedCount
}

type paddedCount struct {
	n atomic.Uint64
	_ [56]byte
}

// NewCounter makes a counter with n shards.
func NewCounter(n int) *Counter {
	if n < 1 {
		n = 1
	}
	return &Counter{shards: make([]paddedCount, n)}
}

// Add adds d to the shard picked by key.
func (c *Counter) Add(key int, d uint64) { c.shards[uint(key)%uint(len(c.shards))].n.Add(d) }

// Load sums every shard.
func (c *Counter) Load() uint64 {
	var t uint64
	for i := range c.shards {
		t += c.shards[i].n.Load()
	}
	return t
}
