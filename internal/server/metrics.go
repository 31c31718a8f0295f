package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pushi-io/pushi/internal/hub"
)

// newRegistry is the server's own registry (not the global default, so
// two servers in one process, as in tests, do not collide): the node's
// counters plus the Go runtime and process collectors. The API adds its
// HTTP metrics and serves it at /metrics.
func newRegistry(node *hub.Node) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		node.Collector(),
	)
	return reg
}
