package server

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// Persisted against non-persisted triggers over real HTTP, with a real
// SQLite store and one subscribed socket, from many concurrent senders:
// group commit is what keeps persistence from capping throughput.
func BenchmarkTriggerPersisted(b *testing.B)    { benchmarkTrigger(b, true) }
func BenchmarkTriggerNotPersisted(b *testing.B) { benchmarkTrigger(b, false) }

func benchmarkTrigger(b *testing.B, persist bool) {
	s := startPersistServer(b, nil)
	sub := s.connect(b, appStore.key)
	sub.subscribe("bench", nil)
	go io.Copy(io.Discard, sub.conn) // drains until the server closes it

	body := []byte(`{"name":"tick","channel":"bench","data":"{\"n\":1}","persist":false}`)
	if persist {
		body = []byte(`{"name":"tick","channel":"bench","data":"{\"n\":1}","persist":true}`)
	}
	u := triggerURL(s.apiURL, appStore, body) // one signature: the server verifies it every time all the same
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()
	b.SetParallelism(16) // senders per GOMAXPROCS: enough to keep commits grouped
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(u, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("trigger: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "triggers/s")
	b.StopTimer()
	if persist {
		last, err := s.Store.LastSeq(b.Context(), appStore.id, "bench")
		if err != nil || last < int64(b.N) {
			b.Fatalf("%d triggers, last seq %d (%v)", b.N, last, err)
		}
	}
}
