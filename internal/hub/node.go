package hub

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/ratelimit"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/store"
)

// Options are the node-wide connection settings.
type Options struct {
	ActivityTimeout time.Duration // pusher:ping after this much inbound silence
	PongTimeout     time.Duration // then 4201 after this much more
	MaxMessageBytes int           // inbound message limit (close 1009)
	QueueBudget     int           // outbound bytes queued per connection before 4100
	WriteTimeout    time.Duration // one socket write; a stuck peer is dropped
	PathPrefix      string        // mount prefix stripped before /app/{key}
	MaxConnections  int           // node capacity, 0 = unlimited (4100)
	// MaxConnectionRate caps connection attempts per second on this node,
	// checked before the upgrade (HTTP 503); 0 = unlimited.
	MaxConnectionRate int
	// MaxConnectionRatePerIP is one source address's share of it (IPv6:
	// one /64); 0 = no per-source limit. TrustedProxies are the peers whose
	// X-Forwarded-For names the source instead.
	MaxConnectionRatePerIP int
	TrustedProxies         []netip.Prefix
	Logger                 *slog.Logger
	// Store holds follows and persisted events (docs/features.md §3-§7). nil turns
	// the store-backed features off (hub unit tests).
	Store store.Store
	// Webhooks gets the protocol webhook events (docs/protocol.md §15); nil
	// raises none.
	Webhooks Webhooks
}

// DefaultOptions mirror pusher-js's defaults (activity 120 s, pong 30 s).
func DefaultOptions() Options {
	return Options{
		ActivityTimeout: 120 * time.Second,
		PongTimeout:     30 * time.Second,
		MaxMessageBytes: 64 << 10,
		QueueBudget:     1 << 20,
		WriteTimeout:    10 * time.Second,
	}
}

// Node runs the realtime side of one server process: it accepts
// connections, keeps the local hub, and exchanges messages with the other
// nodes through the broker.
type Node struct {
	opts    Options
	log     *slog.Logger
	apps    apps.Registry
	state   state.State
	broker  broker.Broker
	index   *index
	ids     *protocol.SocketIDs
	poll    *poller // nil where the OS has none: reader goroutines then
	writers *writerPool

	conns        sync.Map // *Conn → struct{}: every open local connection
	connCount    atomic.Int64
	perApp       sync.Map // app id → *atomic.Int64
	draining     atomic.Bool
	connRate     ratelimit.Bucket // MaxConnectionRate
	appRates     sync.Map         // app id → *ratelimit.Bucket (limits.max_connection_rate)
	sourceRates  ratelimit.Keyed  // source address → bucket (MaxConnectionRatePerIP)
	persistRates ratelimit.Keyed  // sender → bucket (limits.persisted_client_events_per_min)

	counts    countThrottle
	misses    cacheMisses // cache_miss webhook deduplication
	repairs   repairs     // cluster-state changes to retry (repair.go)
	ext       pushi       // pushi's extensions, at the hook points in ext.go
	metrics   nodeMetrics
	closeOnce sync.Once // Close may be called again (Shutdown twice)
}

// nodeMetrics are the node's running counters.
type nodeMetrics struct {
	connsAccepted  atomic.Uint64
	connsClosed    atomic.Uint64
	connsThrottled atomic.Uint64 // refused by a connection-rate limit before the upgrade
	framesIn       atomic.Uint64
	framesOut      atomic.Uint64
	bytesOut       atomic.Uint64
	slowConsumers  atomic.Uint64
	rateLimited    atomic.Uint64
	persisted      atomic.Uint64
	storeErrors    atomic.Uint64
	closed         closeCounts   // by close code (metrics.go)
	stateErrors    atomic.Uint64 // cluster-state calls that failed
	brokerErrors   atomic.Uint64 // broker subscribe/publish calls that failed
	fanout         durationHist  // one Broadcast per event, not per recipient
}

// NewBroker builds the node's broker around the node's delivery handler.
type NewBroker func(broker.Handler) (broker.Broker, error)

// NewNode wires a node. newBroker defaults to the in-memory broker.
func NewNode(opts Options, registry apps.Registry, st state.State, newBroker NewBroker) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n := &Node{opts: opts, log: opts.Logger, apps: registry, state: st, index: newIndex(), ids: protocol.NewSocketIDs()}
	n.counts.init(n)
	n.repairs.init(n)
	n.ext = pushi{n}
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	n.poll = p
	n.writers = newWriterPool()
	if newBroker == nil {
		newBroker = func(h broker.Handler) (broker.Broker, error) { return broker.NewMemory(h), nil }
	}
	b, err := newBroker(handler{n})
	if err != nil {
		return nil, err
	}
	n.broker = b
	return n, nil
}

// State exposes the cluster-wide state for read-only API queries.
func (n *Node) State() state.State { return n.state }

// Connections returns the number of open local connections.
func (n *Node) Connections() int64 { return n.connCount.Load() }

// SetDraining makes the node refuse new connections with 4200.
func (n *Node) SetDraining(v bool) { n.draining.Store(v) }

// Draining reports whether the node refuses new connections.
func (n *Node) Draining() bool { return n.draining.Load() }

// handler is the node as the broker's Handler: what any node published
// (this one included) is delivered here.
type handler struct{ n *Node }

func (h handler) Deliver(p *broker.Publication) {
	start := time.Now()
	h.n.index.broadcast(p.App, p.Channel, textFrame(p.Payload), p.Exclude, p.MemberVersion)
	h.n.metrics.fanout.observe(time.Since(start))
}

func (h handler) Control(c broker.Control) {
	n := h.n
	switch c := c.(type) {
	case broker.TerminateUser:
		for _, conn := range n.index.userConnsOf(c.App, c.UserID) {
			conn.closeWith(protocol.CodeUnauthorized, "Connection terminated by the server")
		}
	case broker.UserPresence:
		name := "offline"
		if c.Online {
			name = "online"
		}
		frame := textFrame(watchlistFrame([]watchEvent{{Name: name, UserIDs: []string{c.UserID}}}))
		for _, conn := range n.index.watchersOf(c.App, c.UserID) {
			conn.send(frame)
		}
	case broker.FollowChanged:
		n.ext.followChanged(c)
	case broker.PeerSync:
		n.ext.syncPeers(c.App, c.Channel)
	}
}

// Publish sends a server event to every subscriber of a channel in the
// cluster, except the socket exclude. The frame is encoded once here.
func (n *Node) Publish(ctx context.Context, app *apps.App, ch protocol.Channel, event, data, exclude string) error {
	return n.publish(ctx, app, ch, &protocol.Event{Name: event, Channel: ch.Name, Data: data}, exclude, true)
}

// publish encodes ev once, keeps it as the cache channel's last event when
// cache is set (server events; client events never replace the slot,
// docs/protocol.md §10) and hands it to the broker.
func (n *Node) publish(ctx context.Context, app *apps.App, ch protocol.Channel, ev *protocol.Event, exclude string, cache bool) error {
	payload := protocol.EncodeEvent(ev)
	if ch.Cache && cache {
		ttl := time.Duration(app.CacheTTLS) * time.Second
		if err := n.state.SetCache(ctx, app.ID, ch.Name, state.CachedEvent{Event: ev.Name, Data: ev.Data, Expires: time.Now().Add(ttl)}); err != nil {
			return err
		}
		if len(app.Webhooks) > 0 {
			n.misses.cached(chanKey{app.ID, ch.Name})
		}
	}
	return n.broker.Publish(ctx, &broker.Publication{App: app.ID, Channel: ch.Name, Exclude: exclude, Payload: payload})
}

// TerminateUser closes every connection signed in as user, cluster-wide.
func (n *Node) TerminateUser(ctx context.Context, app *apps.App, user string) error {
	return n.broker.Send(ctx, broker.TerminateUser{App: app.ID, UserID: user})
}

func (n *Node) appCounter(appID string) *atomic.Int64 {
	if v, ok := n.perApp.Load(appID); ok {
		return v.(*atomic.Int64)
	}
	v, _ := n.perApp.LoadOrStore(appID, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func (n *Node) connClosed(c *Conn) {
	n.conns.Delete(c)
	n.connCount.Add(-1)
	n.appCounter(c.app.ID).Add(-1)
	n.metrics.connsClosed.Add(1)
	c.wmu.Lock()
	code, reason := c.closeCode, c.closeReason
	c.wmu.Unlock()
	n.metrics.closed.add(code)
	switch {
	case code == 0:
		code, reason = 1006, "connection lost without a close frame"
	case reason == "":
		reason = "closed by the client"
	}
	n.log.Info("connection closed", "app", c.app.ID, "socket_id", c.socketID, "code", code, "reason", reason,
		"duration", time.Duration(time.Now().UnixNano()-c.openedAt).Round(time.Millisecond).String())
}

// CloseAll closes every local connection with code (4200 when draining),
// spreading the closes evenly over window so clients do not all reconnect
// at once. It returns when every close is queued.
func (n *Node) CloseAll(code int, message string, window time.Duration) {
	var all []*Conn
	n.conns.Range(func(k, _ any) bool { all = append(all, k.(*Conn)); return true })
	var step time.Duration
	if len(all) > 1 {
		step = window / time.Duration(len(all))
	}
	for i, c := range all {
		if i > 0 && step > 0 {
			time.Sleep(step)
		}
		c.closeWith(code, message)
	}
}

// WaitClosed waits until every local connection has ended or ctx ends,
// and reports whether none is left.
func (n *Node) WaitClosed(ctx context.Context) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n.connCount.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// Close ends whatever connections remain without a goodbye and stops the
// poller and the writer pool. Call CloseAll and WaitClosed first to let
// clients hear why they are being dropped.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		n.conns.Range(func(k, _ any) bool { k.(*Conn).teardown(); return true })
		if n.poll != nil {
			n.poll.stop()
		}
		n.writers.stop()
	})
}
