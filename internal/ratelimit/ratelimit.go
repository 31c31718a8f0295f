// Package ratelimit is the token bucket shared by the limits that refuse
// work before doing it: backend events per app (HTTP 429), connection
// attempts before the WebSocket upgrade (HTTP 503, per node, app and source
// address) and persisted client events per user.
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
	return b.take(n, float64(rate), float64(rate), now)
}

// take takes n tokens refilled at r per second, holding at most burst.
func (b *Bucket) take(n int, r, burst float64, now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.tokens = burst
	} else if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*r)
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

// Keyed is one bucket per key (a source address, a user), for limits that
// give each key its own share. Idle keys are swept, and the number of keys
// is capped so a flood of distinct keys cannot grow memory: beyond MaxKeys
// a new key is refused outright until a sweep frees room, which only
// happens under an attack that a node-wide limit already bounds.
type Keyed struct {
	MaxKeys int // 0: 100 000

	mu      sync.Mutex
	buckets map[string]*keyedBucket
	swept   time.Time
}

type keyedBucket struct {
	Bucket
	used time.Time // last Take, for the sweep
}

// keyedIdle is how long a key may stay unused before the sweep drops it:
// longer than any burst takes to refill at the rates used here (one
// second's worth at the key's rate per second, one minute's at per-minute
// rates), so dropping a swept key's bucket never grants a fresh burst
// early.
const keyedIdle = 2 * time.Minute

// Take takes n tokens from key's bucket at perSecond tokens per second,
// holding at most burst. perSecond <= 0 means no limit.
func (k *Keyed) Take(key string, n int, perSecond, burst float64, now time.Time) (ok bool, wait time.Duration) {
	if perSecond <= 0 {
		return true, 0
	}
	k.mu.Lock()
	if k.buckets == nil {
		k.buckets = map[string]*keyedBucket{}
	}
	if now.Sub(k.swept) > keyedIdle/2 {
		for key, b := range k.buckets {
			if now.Sub(b.used) > keyedIdle {
				delete(k.buckets, key)
			}
		}
		k.swept = now
	}
	b := k.buckets[key]
	if b == nil {
		max := k.MaxKeys
		if max <= 0 {
			max = 100000
		}
		if len(k.buckets) >= max {
			k.mu.Unlock()
			return false, time.Second
		}
		b = &keyedBucket{}
		k.buckets[key] = b
	}
	b.used = now
	k.mu.Unlock()
	return b.take(n, perSecond, burst, now)
}

// Len is the number of keys held, for tests and metrics.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
