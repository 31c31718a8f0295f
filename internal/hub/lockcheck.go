package hub

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// The hub's one hard locking rule (docs/architecture.md, "Lock order"): no
// shared lock — a hub shard, the user index, a subscription's hold, the
// count throttle, the cache-miss set — is held across a call to the
// cluster state, the broker, the durable store or webhooks. (A
// connection's outgoing queue lock, wmu, is a leaf that only appends; it
// is not tracked, to keep its per-recipient cost at nothing.) With a networked state or broker such a call is a round
// trip, and every broadcast on that shard would wait for it.
//
// Tests enforce it: with lockDebug on, every shared lock records the
// goroutine holding it, and the fakes behind those seams call
// sharedLocksHeld before doing anything. Off (always, outside tests),
// each lock operation pays one atomic load.
var lockDebug atomic.Bool

var (
	heldMu sync.Mutex
	held   = map[uint64]int{} // goroutine id → shared locks it holds
)

func lockTaken() {
	if lockDebug.Load() {
		id := goid()
		heldMu.Lock()
		held[id]++
		heldMu.Unlock()
	}
}

func lockReleased() {
	if lockDebug.Load() {
		id := goid()
		heldMu.Lock()
		if held[id]--; held[id] <= 0 {
			delete(held, id)
		}
		heldMu.Unlock()
	}
}

// sharedLocksHeld reports how many shared locks the calling goroutine
// holds (always 0 with lockDebug off).
func sharedLocksHeld() int {
	if !lockDebug.Load() {
		return 0
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	return held[goid()]
}

// goid is the calling goroutine's id, from its stack header
// ("goroutine 123 [running]:"): slow, and used only with lockDebug on.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
