package hub

import "sync"

// A hold keeps the live frames of one subscription from the moment it is
// in the hub until its answer is queued: subscription_succeeded with the
// member snapshot and the cache frame, then the history replay when one
// was asked for (docs/features.md §7.2). The answer is read from the
// cluster state and the store with no shared lock held, and released
// frames already in the answer are dropped, so the socket gets exactly
// the events after its subscription_succeeded: a presence member change
// shows either in the member list or as an event, never both and never
// neither, and a replayed record is not sent live again.
type hold struct {
	mu       sync.Mutex
	conn     *Conn
	frames   []heldFrame
	released bool
}

type heldFrame struct {
	frame   []byte
	version uint64 // presence member events: the state's version of the change
}

// offer keeps a live frame, or sends it once released. Called by
// broadcast under the shard's read lock; queues under h.mu so held and
// later frames keep their order.
func (h *hold) offer(frame []byte, version uint64) {
	h.mu.Lock()
	lockTaken()
	defer func() { lockReleased(); h.mu.Unlock() }()
	if h.released {
		h.conn.send(frame)
		return
	}
	h.frames = append(h.frames, heldFrame{frame, version})
}

// skip says which held frames the answer already covered: member events
// up to the snapshot's version, persisted events up to the last replayed
// seq.
type skip struct {
	memberVersion uint64
	seq           int64
	replayed      bool // seq applies
}

func (k skip) covers(f heldFrame) bool {
	if f.version != 0 && f.version <= k.memberVersion {
		return true
	}
	if k.replayed {
		if seq, ok := frameSeq(f.frame); ok && seq <= k.seq {
			return true
		}
	}
	return false
}

// release sends the held frames the answer did not cover, in order, and
// stops holding.
func (h *hold) release(sub *subscription, k skip) {
	h.mu.Lock()
	lockTaken()
	defer func() { lockReleased(); h.mu.Unlock() }()
	for _, f := range h.frames {
		if !k.covers(f) {
			h.conn.send(f.frame)
		}
	}
	h.frames, h.released = nil, true
	sub.hold.Store(nil)
}
