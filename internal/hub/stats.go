package hub

// Stats is a snapshot of the node's counters, for /health/detailed and
// the Prometheus collector (internal/server).
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
	StateErrors       uint64 // cluster-state calls that failed, retries included
	StateRepairs      int    // state changes waiting to be recorded again
	BrokerErrors      uint64 // broker subscribe/unsubscribe calls that failed
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
		StateErrors:       m.stateErrors.Load(),
		StateRepairs:      n.repairs.pending(),
		BrokerErrors:      m.brokerErrors.Load(),
	}
	s.Subscriptions, s.Channels = n.index.totals()
	for _, cc := range n.ClosedByCode() {
		if cc.Count > 0 {
			s.ClosedByCode[cc.Code] = cc.Count
		}
	}
	return s
}
