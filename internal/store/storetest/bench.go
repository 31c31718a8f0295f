package storetest

import (
	"context"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
)

// benchTrigger is about a hundred bytes of data, a chat message or a tick.
var benchTrigger = store.Trigger{AppID: "1", Channels: []string{"news"}, Event: "update", Data: `{"text":"a hundred bytes of payload, roughly what a chat message or a price tick weighs....."}`, Source: "api"}

// BenchAppendSerial is one writer: every Append pays its own commit.
func BenchAppendSerial(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(ctx, benchTrigger, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchAppendParallel is 32×GOMAXPROCS concurrent writers on one channel:
// group commit shares one commit among everything queued.
func BenchAppendParallel(b *testing.B, s store.Store) {
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
