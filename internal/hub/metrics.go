package hub

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

// closeCodes are the close codes counted by label: the WebSocket codes a
// peer or pushi uses and the protocol's 4xxx codes. Anything else is
// "other", so the label stays bounded whatever a client sends.
var closeCodes = [...]int{
	1000, 1001, protocol.CloseProtocolError, protocol.CloseUnsupportedData, 1006, protocol.CloseMessageTooBig,
	protocol.CodeUnknownApp, protocol.CodeAppDisabled, protocol.CodeOverQuota,
	protocol.CodeUnknownPath, protocol.CodeBadProtocol, protocol.CodeNoProtocol,
	protocol.CodeUnauthorized, protocol.CodeOverCapacity, protocol.CodeReconnectNow,
	protocol.CodePongTimeout, protocol.CodeClientEventRate, protocol.CodeWatchlistTooLong,
}

// closeCounts counts closed connections per close code; the last slot is
// "other".
type closeCounts [len(closeCodes) + 1]atomic.Uint64

// add counts one close. Code 0 (the socket ended without a close frame)
// is reported as 1006, as RFC 6455 names that case.
func (cc *closeCounts) add(code int) {
	if code == 0 {
		code = 1006
	}
	for i, c := range closeCodes {
		if c == code {
			cc[i].Add(1)
			return
		}
	}
	cc[len(closeCodes)].Add(1)
}

// fanoutBuckets bound the broadcast duration histogram, in seconds.
var fanoutBuckets = [...]float64{10e-6, 50e-6, 100e-6, 500e-6, 1e-3, 5e-3, 10e-3, 50e-3, 100e-3, 500e-3, 1}

// durationHist is a lock-free histogram: Observe is a few atomic adds and
// the cumulative buckets are built only at scrape time.
type durationHist struct {
	buckets [len(fanoutBuckets) + 1]atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sumNs   atomic.Int64
}

func (h *durationHist) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(fanoutBuckets) && s > fanoutBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(int64(d))
}

// totals counts local subscriptions and channels by walking the shards,
// so subscribe and unsubscribe keep no extra counters. Each shard is
// read-locked only for its own walk.
func (h *index) totals() (subs, chans int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.rlock()
		chans += len(sh.channels)
		for _, s := range sh.channels {
			subs += len(s.list)
		}
		sh.runlock()
	}
	return subs, chans
}

// CodeCount is the number of connections closed with one close code;
// Code is the number, or "other".
type CodeCount struct {
	Code  string
	Count uint64
}

// ClosedByCode lists every counted close code, zeros included (so a
// metric can rate() from the first close), then "other".
func (n *Node) ClosedByCode() []CodeCount {
	m := &n.metrics
	out := make([]CodeCount, 0, len(closeCodes)+1)
	for i, code := range closeCodes {
		out = append(out, CodeCount{strconv.Itoa(code), m.closed[i].Load()})
	}
	return append(out, CodeCount{"other", m.closed[len(closeCodes)].Load()})
}

// Histogram is a snapshot of a duration histogram: Counts[i] is the
// number of observations at most Bounds[i] seconds (cumulative), Count
// all of them, Sum their total.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// FanoutHistogram is the time one Broadcast took, per event per node.
func (n *Node) FanoutHistogram() Histogram { return n.metrics.fanout.snapshot() }

func (h *durationHist) snapshot() Histogram {
	out := Histogram{Bounds: fanoutBuckets[:], Counts: make([]uint64, len(fanoutBuckets)), Sum: time.Duration(h.sumNs.Load())}
	for i := range fanoutBuckets {
		out.Count += h.buckets[i].Load()
		out.Counts[i] = out.Count
	}
	// The count is the bucket total (no separate counter to bump), so
	// count and buckets always agree.
	out.Count += h.buckets[len(fanoutBuckets)].Load()
	return out
}

// AppConnections calls f with each app's open local connections.
func (n *Node) AppConnections(f func(app string, conns int64)) {
	n.perApp.Range(func(k, v any) bool {
		f(k.(string), v.(*atomic.Int64).Load())
		return true
	})
}
