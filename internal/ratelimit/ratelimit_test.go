package ratelimit

import (
	"testing"
	"time"
)

func TestBucketBurstRefillAndWait(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		if ok, _ := b.Take(1, 10, t0); !ok {
			t.Fatalf("take %d of a full bucket of 10 refused", i)
		}
	}
	ok, wait := b.Take(1, 10, t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("11th take: ok=%v wait=%v, want refused with 100ms", ok, wait)
	}
	if ok, _ := b.Take(1, 10, t0.Add(100*time.Millisecond)); !ok {
		t.Fatal("a token refilled after 100ms at 10/s was refused")
	}
	// The refill stops at the burst: an hour idle still allows only 10.
	later := t0.Add(time.Hour)
	taken := 0
	for range 20 {
		if ok, _ := b.Take(1, 10, later); ok {
			taken++
		}
	}
	if taken != 10 {
		t.Fatalf("after an idle hour took %d, want the burst of 10", taken)
	}
	if ok, _ := b.Take(1, 0, later); !ok {
		t.Fatal("rate 0 (no limit) refused")
	}
}

func TestBucketTakesSeveralAndClockSkew(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	if ok, _ := b.Take(7, 10, t0); !ok {
		t.Fatal("7 of 10 refused")
	}
	ok, wait := b.Take(5, 10, t0)
	if ok || wait != 200*time.Millisecond {
		t.Fatalf("5 more: ok=%v wait=%v, want refused with 200ms", ok, wait)
	}
	// A clock that steps back refills nothing and does not go negative.
	if ok, _ := b.Take(3, 10, t0.Add(-time.Minute)); !ok {
		t.Fatal("the 3 tokens left were refused after a backward clock step")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}} {
		if got := RetryAfter(c.wait); got != c.want {
			t.Errorf("RetryAfter(%v) = %d, want %d", c.wait, got, c.want)
		}
	}
}

func TestKeyedGivesEachKeyItsOwnShare(t *testing.T) {
	var k Keyed
	now := time.Unix(1000, 0)
	for i := range 5 {
		if ok, _ := k.Take("a", 1, 5, 5, now); !ok {
			t.Fatalf("a refused at %d of its burst", i)
		}
	}
	if ok, wait := k.Take("a", 1, 5, 5, now); ok || wait != 200*time.Millisecond {
		t.Fatalf("a over its burst: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := k.Take("b", 1, 5, 5, now); !ok {
		t.Fatal("b refused because of a")
	}
	// Per-minute rates: burst 60, refill one a second.
	for range 60 {
		k.Take("m", 1, 1, 60, now)
	}
	if ok, _ := k.Take("m", 1, 1, 60, now.Add(500*time.Millisecond)); ok {
		t.Fatal("m refilled early")
	}
	if ok, _ := k.Take("m", 1, 1, 60, now.Add(1100*time.Millisecond)); !ok {
		t.Fatal("m not refilled after a second")
	}
	// Idle keys are swept; the key count is capped.
	later := now.Add(keyedIdle * 2)
	k.Take("c", 1, 5, 5, later)
	if k.Len() != 1 {
		t.Fatalf("%d keys after the sweep, want 1", k.Len())
	}
	capped := Keyed{MaxKeys: 2}
	capped.Take("x", 1, 5, 5, now)
	capped.Take("y", 1, 5, 5, now)
	if ok, _ := capped.Take("z", 1, 5, 5, now); ok || capped.Len() != 2 {
		t.Fatalf("a third key past MaxKeys 2: ok=%v len=%d", ok, capped.Len())
	}
}
