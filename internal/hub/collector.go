package hub

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

func (h *durationHist) metric(desc *prometheus.Desc) prometheus.Metric {
	cum := make(map[float64]uint64, len(fanoutBuckets))
	var n uint64
	for i, ub := range fanoutBuckets {
		n += h.buckets[i].Load()
		cum[ub] = n
	}
	// The count is the bucket total (no separate counter to bump), so
	// count and buckets always agree.
	n += h.buckets[len(fanoutBuckets)].Load()
	return prometheus.MustNewConstHistogram(desc, n, time.Duration(h.sumNs.Load()).Seconds(), cum)
}

// Collector exposes the node's counters to Prometheus. Everything is read
// at scrape time, so the hot path pays only its existing atomic adds.
func (n *Node) Collector() prometheus.Collector { return nodeCollector{n} }

type nodeCollector struct{ n *Node }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("pushi_"+name, help, labels, nil)
}

var (
	descConns         = desc("connections_current", "Open WebSocket connections on this node.")
	descAppConns      = desc("app_connections_current", "Open WebSocket connections on this node per app.", "app_id")
	descAccepted      = desc("connections_accepted_total", "WebSocket connections accepted.")
	descThrottled     = desc("connections_rate_limited_total", "WebSocket connection attempts refused with HTTP 503 by a connection-rate limit, before the upgrade.")
	descClosed        = desc("connections_closed_total", "WebSocket connections closed, by close code.", "code")
	descSubs          = desc("subscriptions_current", "Channel subscriptions held by local connections.")
	descChannels      = desc("channels_current", "Channels with at least one local subscriber.")
	descMsgsIn        = desc("messages_received_total", "WebSocket messages received from clients.")
	descMsgsOut       = desc("messages_sent_total", "WebSocket frames written to clients.")
	descBytesOut      = desc("bytes_sent_total", "Bytes written to WebSocket clients.")
	descSlow          = desc("slow_consumer_disconnects_total", "Connections closed because their outbound queue passed its budget.")
	descRateLimited   = desc("rate_limited_events_total", "Client events refused by the per-connection rate limit.")
	descPersisted     = desc("persisted_events_total", "Event records appended to the store.")
	descStoreErrors   = desc("store_errors_total", "Persisted publishes that failed in the store.")
	descFanout        = desc("broadcast_duration_seconds", "Time to queue one event on every local subscriber of its channel.")
	nodeCollectorDesc = []*prometheus.Desc{descConns, descAppConns, descAccepted, descThrottled, descClosed, descSubs, descChannels,
		descMsgsIn, descMsgsOut, descBytesOut, descSlow, descRateLimited, descPersisted, descStoreErrors, descFanout}
)

func (nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeCollectorDesc {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n, m := c.n, &c.n.metrics
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	s := n.Stats()
	gauge(descConns, float64(s.Connections))
	n.perApp.Range(func(k, v any) bool {
		gauge(descAppConns, float64(v.(*atomic.Int64).Load()), k.(string))
		return true
	})
	counter(descAccepted, s.Accepted)
	counter(descThrottled, s.RateLimited)
	// Every code is listed, zeros too, so rate() works from the first close.
	for i, code := range closeCodes {
		counter(descClosed, m.closed[i].Load(), strconv.Itoa(code))
	}
	counter(descClosed, m.closed[len(closeCodes)].Load(), "other")
	gauge(descSubs, float64(s.Subscriptions))
	gauge(descChannels, float64(s.Channels))
	counter(descMsgsIn, s.MessagesIn)
	counter(descMsgsOut, s.MessagesOut)
	counter(descBytesOut, s.BytesOut)
	counter(descSlow, s.SlowConsumers)
	counter(descRateLimited, s.RateLimitedEvents)
	counter(descPersisted, s.Persisted)
	counter(descStoreErrors, s.StoreErrors)
	ch <- m.fanout.metric(descFanout)
}

// totals counts local subscriptions and channels by walking the shards,
// so subscribe and unsubscribe keep no extra counters. Each shard is
// read-locked only for its own walk.
func (h *Hub) totals() (subs, chans int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		chans += len(sh.channels)
		for _, s := range sh.channels {
			subs += len(s.list)
		}
		sh.mu.RUnlock()
	}
	return subs, chans
}
