package hub

import "strconv"

// Stats is a snapshot of the node's counters for /health/detailed; the
// Prometheus collector reads the same counters.
type Stats struct {
	Connections       int64
	Accepted          uint64
	Closed            uint64
	RateLimited       uint64
	ClosedByCode      map[string]uint64
	Subscriptions     int
	Channels          int
	MessagesIn        uint64
	MessagesOut       uint64
	BytesOut          uint64
	SlowConsumers     uint64
	RateLimitedEvents uint64
	Persisted         uint64
	StoreErrors       uint64
}

// Stats reads the node's counters; each is read atomically, the set is
// not one instant.
func (n *Node) Stats() Stats {
	m := &n.metrics
	s := Stats{
		Connections:       n.connCount.Load(),
		Accepted:          m.connsAccepted.Load(),
		Closed:            m.connsClosed.Load(),
		RateLimited:       m.connsThrottled.Load(),
		ClosedByCode:      map[string]uint64{},
		MessagesIn:        m.framesIn.Load(),
		MessagesOut:       m.framesOut.Load(),
		BytesOut:          m.bytesOut.Load(),
		SlowConsumers:     m.slowConsumers.Load(),
		RateLimitedEvents: m.rateLimited.Load(),
		Persisted:         m.persisted.Load(),
		StoreErrors:       m.storeErrors.Load(),
	}
	s.Subscriptions, s.Channels = n.hub.totals()
	for i, code := range closeCodes {
		if v := m.closed[i].Load(); v > 0 {
			s.ClosedByCode[strconv.Itoa(code)] = v
		}
	}
	if v := m.closed[len(closeCodes)].Load(); v > 0 {
		s.ClosedByCode["other"] = v
	}
	return s
}
