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
