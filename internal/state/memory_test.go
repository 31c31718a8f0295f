package state_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/state/statetest"
)

func TestMemoryContract(t *testing.T) {
	statetest.Run(t, func(*testing.T) state.State { return state.NewMemory() })
}

func TestMemoryCacheSweepsExpiredSlots(t *testing.T) {
	s := state.NewMemory()
	ctx := context.Background()
	past := time.Now().Add(-time.Second)
	// Many channels on one shard are unlikely; write enough to sweep every shard.
	for i := 0; i < 200000; i++ {
		s.SetCache(ctx, "a", "cache-"+strconv.Itoa(i), state.CachedEvent{Event: "e", Data: "d", Expires: past})
	}
	if n := s.CacheSlots(); n > 64*1024 {
		t.Fatalf("%d expired slots kept", n)
	}
}
