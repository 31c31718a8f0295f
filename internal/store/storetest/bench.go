package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// BenchFollow measures new follows (max 1000 per user, 10 channels per
// user) in a store that already holds others follows by other users, so a
// limit check reading more than the following user's own rows shows. The
// others are loaded in one batch through the backend's Loader.
func BenchFollow(b *testing.B, s store.Store, others int) {
	ctx := context.Background()
	l, ok := s.(store.Loader)
	if !ok {
		b.Fatalf("%T has no Loader to preload follows with", s)
	}
	err := l.Load(ctx, func(w store.DumpWriter) error {
		for i := 0; i < others; i++ {
			f := store.Follow{AppID: "1", UserID: fmt.Sprint("other-", i/10), Channel: fmt.Sprint("news-", i%10), CreatedAt: time.Unix(1_719_580_393, 0)}
			if err := w.Follow(f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := store.Follow{AppID: "1", UserID: fmt.Sprint("bench-", i/10), Channel: fmt.Sprint("news-", i%10)}
		if _, created, err := s.Follow(ctx, f, 1000); err != nil || !created {
			b.Fatalf("follow %d: created %v, %v", i, created, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "follows/s")
}
