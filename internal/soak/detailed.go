package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Detailed is the part of GET /health/detailed the soak test asserts on.
type Detailed struct {
	Status      string `json:"status"`
	Connections struct {
		Current      int64             `json:"current"`
		Accepted     uint64            `json:"accepted"`
		Closed       uint64            `json:"closed"`
		RateLimited  uint64            `json:"rate_limited"`
		ClosedByCode map[string]uint64 `json:"closed_by_code"`
	} `json:"connections"`
	Channels      int `json:"channels"`
	Subscriptions int `json:"subscriptions"`
	Messages      struct {
		Received  uint64 `json:"received"`
		Sent      uint64 `json:"sent"`
		BytesSent uint64 `json:"bytes_sent"`
	} `json:"messages"`
	SlowConsumerDisconnects uint64 `json:"slow_consumer_disconnects"`
	RateLimitedEvents       uint64 `json:"rate_limited_events"`
	Runtime                 struct {
		Goroutines     int    `json:"goroutines"`
		HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
		HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
		SysBytes       uint64 `json:"sys_bytes"`
		NumGC          uint32 `json:"num_gc"`
	} `json:"runtime"`
}

// detailedClient reads /health/detailed and /metrics and calls the admin
// API with the admin token. It has its own transport so the publisher's
// keep-alive pool never delays it.
type detailedClient struct {
	base  string
	url   string
	token string
	hc    *http.Client
}

func newDetailedClient(base, token string) *detailedClient {
	return &detailedClient{
		base:  base,
		url:   base + "/health/detailed",
		token: token,
		hc:    &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}},
	}
}

// get fetches the report; gc asks the server to collect garbage first so
// heap figures taken at different times compare.
func (d *detailedClient) get(ctx context.Context, gc bool) (*Detailed, error) {
	u := d.url
	if gc {
		u += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /health/detailed: HTTP %d: %.200s", resp.StatusCode, body)
	}
	var out Detailed
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("GET /health/detailed: %w", err)
	}
	return &out, nil
}

// admin sends an admin API request (bearer token) and returns the status
// and up to 1 MiB of the answer.
func (d *detailedClient) admin(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// webhookDrops reads pushi_webhook_dropped_total by reason from /metrics.
func (d *detailedClient) webhookDrops(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	return parseDropped(resp.Body)
}

// parseDropped picks the pushi_webhook_dropped_total samples out of the
// Prometheus text format; a server without the metric gives an error, so
// "nothing dropped" is never read from a missing line.
func parseDropped(r io.Reader) (map[string]float64, error) {
	const prefix = `pushi_webhook_dropped_total{reason="`
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		reason, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("/metrics: unexpected line %q", sc.Text())
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", sc.Text(), err)
		}
		out[reason] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/metrics has no pushi_webhook_dropped_total")
	}
	return out, nil
}
