// Package ratelimit is the token bucket shared by the limits that refuse
// work before doing it: backend events per app (HTTP 429) and connection
// attempts before the WebSocket upgrade (HTTP 503).
package ratelimit

import (
	"sync"
	"time"
)

// Bucket holds up to rate tokens (one second's worth, the burst) and
// refills at rate per second. Its zero value is a full bucket. The rate is
// passed on every call so an app's limit can change without a new bucket.
type Bucket struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time // last refill; zero: never used, so full
}

// Take takes n tokens at rate per second. When refused it returns how
// long until n tokens are there, for a Retry-After. rate <= 0 means no
// limit.
func (b *Bucket) Take(n, rate int, now time.Time) (ok bool, wait time.Duration) {
	if rate <= 0 {
		return true, 0
	}
	r := float64(rate)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.tokens = r
	} else if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(r, b.tokens+elapsed*r)
	}
	b.at = now
	if b.tokens >= float64(n) {
		b.tokens -= float64(n)
		return true, 0
	}
	return false, time.Duration((float64(n) - b.tokens) / r * float64(time.Second))
}

// RetryAfter is wait as whole seconds for a Retry-After header, at least 1.
func RetryAfter(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}
