package server

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// sample is one exposition line: a name, its labels and a value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape fetches /metrics from the API listener and parses the text format.
func (s *testServer) scrape(t testing.TB) []sample {
	t.Helper()
	resp, err := http.Get(s.apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		head := line[:sp]
		smp := sample{name: head, labels: map[string]string{}, value: v}
		if i := strings.IndexByte(head, '{'); i >= 0 {
			smp.name = head[:i]
			smp.labels = parseLabels(t, head[i+1:len(head)-1])
		}
		out = append(out, smp)
	}
	return out
}

// parseLabels reads k="v",… (values here never hold quotes or escapes).
func parseLabels(t testing.TB, s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		end := strings.IndexByte(s[eq+2:], '"')
		if eq < 0 || end < 0 {
			t.Fatalf("bad labels %q", s)
		}
		m[s[:eq]] = s[eq+2 : eq+2+end]
		s = strings.TrimPrefix(s[eq+2+end+1:], ",")
	}
	return m
}

// value returns the sample of name whose labels include want.
func value(samples []sample, name string, want map[string]string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func mustValue(t testing.TB, samples []sample, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := value(samples, name, labels)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

func TestMetricsEndpoint(t *testing.T) {
	s := startServer(t, nil)
	a := s.connect(t, appBasic.key)
	b := s.connect(t, appBasic.key)
	a.subscribe("news", nil)
	b.subscribe("news", nil)
	b.subscribe("sport", nil)

	m := s.scrape(t)
	for name, want := range map[string]float64{
		"pushi_connections_current":   2,
		"pushi_subscriptions_current": 3,
		"pushi_channels_current":      2,
	} {
		if got := mustValue(t, m, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	const events = 3
	for i := range events {
		s.publish(t, appBasic, "news", "tick", strconv.Itoa(i))
		a.expectEvent("tick")
		b.expectEvent("tick")
	}
	if st, _ := s.signedRequest(t, "POST", "/apps/100001/events", appBasic.key, "wrong-secret", nil, []byte(`{"name":"x","channel":"news","data":""}`)); st != 401 {
		t.Fatalf("bad signature: status %d", st)
	}
	if st, _ := s.signedRequest(t, "GET", "/apps/999999/channels", appBasic.key, appBasic.secret, nil, nil); st != 404 {
		t.Fatalf("unknown app: status %d", st)
	}

	// b leaves with a normal close; teardown is asynchronous, so wait for it.
	b.sendClose(1000)
	testkit.Eventually(t, 5*time.Second, "pushi_connections_current to drop to 1", func() bool {
		m = s.scrape(t)
		v, _ := value(m, "pushi_connections_current", nil)
		return v == 1
	})

	exact := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"pushi_connections_current", nil, 1},
		{"pushi_app_connections_current", map[string]string{"app_id": appBasic.id}, 1},
		{"pushi_connections_accepted_total", nil, 2},
		{"pushi_connections_closed_total", map[string]string{"code": "1000"}, 1},
		{"pushi_connections_closed_total", map[string]string{"code": "4100"}, 0},
		{"pushi_subscriptions_current", nil, 1},
		{"pushi_channels_current", nil, 1},
		{"pushi_broadcast_duration_seconds_count", nil, events},
		{"pushi_slow_consumer_disconnects_total", nil, 0},
		{"pushi_http_requests_total", map[string]string{"route": "/apps/{app_id}/events", "method": "POST", "status": "200"}, events},
		{"pushi_http_requests_total", map[string]string{"route": "/apps/{app_id}/events", "method": "POST", "status": "401"}, 1},
		{"pushi_http_requests_total", map[string]string{"route": "/apps/{app_id}/channels", "method": "GET", "status": "404"}, 1},
		{"pushi_http_request_duration_seconds_count", map[string]string{"route": "/apps/{app_id}/events", "method": "POST", "status": "200"}, events},
	}
	for _, e := range exact {
		if got := mustValue(t, m, e.name, e.labels); got != e.want {
			t.Errorf("%s%v = %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	// Each client got connection_established, its subscription_succeeded
	// frames and every event; b also got the close echo.
	if got, min := mustValue(t, m, "pushi_messages_sent_total", nil), float64(2+3+2*events+1); got < min {
		t.Errorf("messages sent %v, want >= %v", got, min)
	}
	// Text messages only: the three subscribes (control frames are not counted).
	if got := mustValue(t, m, "pushi_messages_received_total", nil); got != 3 {
		t.Errorf("messages received %v, want 3", got)
	}
	if got := mustValue(t, m, "pushi_bytes_sent_total", nil); got <= 0 {
		t.Errorf("bytes sent %v", got)
	}
	// Labels stay bounded: no raw path, no channel name.
	for _, smp := range m {
		if r := smp.labels["route"]; strings.Contains(r, "100001") || strings.Contains(r, "999999") {
			t.Errorf("raw path in route label: %v", smp.labels)
		}
		if _, ok := smp.labels["channel"]; ok {
			t.Errorf("channel label on %s", smp.name)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "pushi_persisted_events_total", "pushi_store_errors_total", "pushi_rate_limited_events_total"} {
		mustValue(t, m, name, nil)
	}
}
