package presence_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/presence"
	"github.com/pushi-io/pushi/internal/presence/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) presence.Store { return presence.NewMemory() })
}

func TestMemoryCacheSweepsExpiredSlots(t *testing.T) {
	s := presence.NewMemory()
	ctx := context.Background()
	past := time.Now().Add(-time.Second)
	// Many channels on one shard are unlikely; write enough to sweep every shard.
	for i := 0; i < 200000; i++ {
		s.SetCache(ctx, "a", "cache-"+strconv.Itoa(i), presence.CachedEvent{Event: "e", Data: "d", Expires: past})
	}
	if n := s.CacheSlots(); n > 64*1024 {
		t.Fatalf("%d expired slots kept", n)
	}
}
