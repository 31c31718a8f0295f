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
		node.Collector(),
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
