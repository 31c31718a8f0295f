package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

var benchTrigger = store.Trigger{AppID: "1", Channels: []string{"news"}, Event: "update", Data: `{"text":"a hundred bytes of payload, roughly what a chat message or a price tick weighs....."}`, Source: "api"}

// BenchmarkAppendSerial is one writer: every Append pays its own fsync.
func BenchmarkAppendSerial(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(ctx, benchTrigger, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendParallel is 32×GOMAXPROCS concurrent writers on one
// channel: group commit shares one fsync among everything queued.
func BenchmarkAppendParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ctx, benchTrigger, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
