package mongo

import (
	"context"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
)

var benchTrigger = store.Trigger{AppID: "1", Channels: []string{"news"}, Event: "update", Data: `{"text":"a hundred bytes of payload, roughly what a chat message or a price tick weighs....."}`, Source: "api"}

// BenchmarkAppendParallel is 32×GOMAXPROCS concurrent writers on one
// channel: the committer groups them into one $inc and one InsertMany.
// Against the in-process FerretDB on SQLite it measures this package and
// FerretDB, not a real MongoDB.
func BenchmarkAppendParallel(b *testing.B) {
	s := openTest(b, freshDB())
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
