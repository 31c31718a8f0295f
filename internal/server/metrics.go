package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pushi-io/pushi/internal/hub"
	"github.com/pushi-io/pushi/internal/webhook"
)

// newRegistry is the server's own registry (not the global default, so
// two servers in one process, as in tests, do not collide): the node's
// counters plus the Go runtime and process collectors. The API adds its
// HTTP metrics and serves it at /metrics.
func newRegistry(node *hub.Node, hooks *webhook.Dispatcher, conns *httpConns) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		nodeCollector{node},
		webhookCollector{hooks},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "pushi", Name: "http_connections_current",
			Help: "Connections holding a slot of PUSHI_MAX_HTTP_CONNECTIONS (those that made an HTTP API request; WebSocket connections never count)."},
			func() float64 { return float64(conns.current()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "pushi", Name: "http_connections_refused_total",
			Help: "HTTP API requests refused with 503 because PUSHI_MAX_HTTP_CONNECTIONS connections were in use."},
			func() float64 { return float64(conns.refused.Load()) }),
	)
	return reg
}

// webhookCollector reads the dispatcher's counters at scrape time.
type webhookCollector struct{ d *webhook.Dispatcher }

var (
	descHookRequests = prometheus.NewDesc("pushi_webhook_requests_total",
		"Protocol webhook requests by outcome: sent (answered 2xx) or failed (an attempt that failed and will be retried or dropped).", []string{"outcome"}, nil)
	descHookDropped = prometheus.NewDesc("pushi_webhook_dropped_total",
		"Webhooks not delivered, by reason: retries_exhausted (bodies given up after the retry time), queue_full (events dropped from a full per-app queue), refused_destination (bodies whose endpoint resolved to an internal address), handoff_full (events dropped when raised, the dispatcher's hand-off being full).", []string{"reason"}, nil)
)

func (webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHookRequests
	ch <- descHookDropped
}

func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.Stats()
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	counter(descHookRequests, s.Sent, "sent")
	counter(descHookRequests, s.Failed, "failed")
	counter(descHookDropped, s.Dropped, "retries_exhausted")
	counter(descHookDropped, s.QueueDropped, "queue_full")
	counter(descHookDropped, s.Refused, "refused_destination")
	counter(descHookDropped, s.HandoffFull, "handoff_full")
}

// nodeCollector exposes the node's counters. Everything is read at scrape
// time, so the hot path pays only its existing atomic adds.
type nodeCollector struct{ n *hub.Node }

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
	descStateErrors   = desc("state_errors_total", "Cluster-state calls that failed (retries of queued changes included).")
	descBrokerErrors  = desc("broker_errors_total", "Broker subscribe and unsubscribe calls that failed or were not acknowledged in time.")
	descStateRepairs  = desc("state_repairs_pending", "Cluster-state changes (leaves, sign-ins and sign-outs) waiting to be recorded again.")
	descFanout        = desc("broadcast_duration_seconds", "Time to queue one event on every local subscriber of its channel.")
	nodeCollectorDesc = []*prometheus.Desc{descConns, descAppConns, descAccepted, descThrottled, descClosed, descSubs, descChannels,
		descMsgsIn, descMsgsOut, descBytesOut, descSlow, descRateLimited, descPersisted, descStoreErrors, descStateErrors, descBrokerErrors, descStateRepairs, descFanout}
)

func (nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeCollectorDesc {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	s := c.n.Stats()
	gauge(descConns, float64(s.Connections))
	c.n.AppConnections(func(app string, conns int64) { gauge(descAppConns, float64(conns), app) })
	counter(descAccepted, s.Accepted)
	counter(descThrottled, s.RateLimited)
	for _, cc := range c.n.ClosedByCode() {
		counter(descClosed, cc.Count, cc.Code)
	}
	gauge(descSubs, float64(s.Subscriptions))
	gauge(descChannels, float64(s.Channels))
	counter(descMsgsIn, s.MessagesIn)
	counter(descMsgsOut, s.MessagesOut)
	counter(descBytesOut, s.BytesOut)
	counter(descSlow, s.SlowConsumers)
	counter(descRateLimited, s.RateLimitedEvents)
	counter(descPersisted, s.Persisted)
	counter(descStoreErrors, s.StoreErrors)
	counter(descStateErrors, s.StateErrors)
	counter(descBrokerErrors, s.BrokerErrors)
	gauge(descStateRepairs, float64(s.StateRepairs))
	h := c.n.FanoutHistogram()
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, ub := range h.Bounds {
		buckets[ub] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(descFanout, h.Count, h.Sum.Seconds(), buckets)
}
