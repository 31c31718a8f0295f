package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics counts API requests by ServeMux pattern, never by raw path,
// so the label set stays bounded whatever clients request.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	labels := []string{"route", "method", "status"}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushi", Name: "http_requests_total", Help: "HTTP API requests by route pattern, method and status.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "pushi", Name: "http_request_duration_seconds", Help: "HTTP API request latency by route pattern, method and status.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// metricsRoutes serves the registry at /metrics. It is open like the
// health routes: put the API listener behind a firewall or proxy to
// restrict it (README, Metrics).
func (a *API) metricsRoutes() {
	if a.opts.Metrics == nil {
		return
	}
	a.metrics = newHTTPMetrics(a.opts.Metrics)
	a.mux.Handle("/metrics", promhttp.HandlerFor(a.opts.Metrics, promhttp.HandlerOpts{}))
}

// serveMux routes r and records it under the pattern the mux matched,
// which ServeMux stores in r.Pattern.
func (a *API) serveMux(w http.ResponseWriter, r *http.Request) {
	if a.metrics == nil {
		a.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	a.mux.ServeHTTP(sw, r)
	route := r.Pattern
	if route == "" {
		route = "unmatched" // the mux's own 405 or redirect
	}
	labels := []string{route, methodLabel(r.Method), strconv.Itoa(sw.status)}
	a.metrics.requests.WithLabelValues(labels...).Inc()
	a.metrics.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
