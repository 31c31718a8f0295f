// Package broker moves messages between the nodes of a cluster. Every node
// publishes through it and delivers what it receives to its local
// connections, so a single node and a cluster run the same code.
//
// Two kinds of traffic cross it, kept apart so a cluster broker can route
// each its own way: Publications, the hot path (one per channel event,
// wanted only by nodes with local subscribers of the channel), and
// Controls, a handful of typed instructions about users and sockets.
package broker

import "context"

// Publication is one channel event. Payload is the encoded JSON frame;
// each node adds the WebSocket header once and shares the bytes among its
// subscribers.
type Publication struct {
	App     string
	Channel string
	Exclude string // socket id that does not receive it ("" = none)
	Payload []byte
	// MemberVersion is set on presence member events (member_added,
	// member_removed): the state's version of the change, so a subscriber
	// that read a member snapshot drops the events already in it.
	MemberVersion uint64
}

// Control is an instruction about users or sockets, not a channel event.
// The types below are the complete set. Each goes to the nodes that hold
// what it concerns (Route), not to every node.
type Control interface {
	// Route names the topic the control travels on: a user's topic
	// (nodes that called SubscribeUser for App, Key) or a channel's
	// (nodes that called Subscribe for App, Key).
	Route() Route
}

// Route is where a Control goes.
type Route struct {
	User     bool // Key is a user id; otherwise a channel name
	App, Key string
}

// TerminateUser closes every local connection signed in as UserID.
type TerminateUser struct{ App, UserID string }

// UserPresence tells local watchers that UserID went online or offline
// (the watchlist).
type UserPresence struct {
	App, UserID string
	Online      bool
}

// FollowChanged: UserID started (Added) or stopped following Channel; the
// local connections holding personal-<UserID> join or leave it
// (docs/features.md §3).
type FollowChanged struct {
	App, UserID, Channel string
	Added                bool
}

// PeerSync: the peer-enabled users of presence channel Channel changed;
// its local peer-enabled members re-derive their peer channels from the
// cluster state (docs/features.md §4).
type PeerSync struct{ App, Channel string }

// TerminateUser reaches the nodes holding the user's signed-in sockets.
func (c TerminateUser) Route() Route { return Route{User: true, App: c.App, Key: c.UserID} }

// UserPresence reaches the nodes holding sockets that watch the user.
func (c UserPresence) Route() Route { return Route{User: true, App: c.App, Key: c.UserID} }

// FollowChanged reaches the nodes holding the channel personal-<UserID>.
func (c FollowChanged) Route() Route { return Route{App: c.App, Key: "personal-" + c.UserID} }

// PeerSync reaches the nodes holding the presence channel.
func (c PeerSync) Route() Route { return Route{App: c.App, Key: c.Channel} }

// Handler receives what any node published, this one included.
type Handler interface {
	Deliver(*Publication)
	Control(Control)
}

// Broker publishes to every node.
type Broker interface {
	Publish(ctx context.Context, p *Publication) error
	Send(ctx context.Context, c Control) error
	// Subscribe and Unsubscribe tell the broker which channels have local
	// subscribers, so a cluster broker only receives what the node needs.
	// They are counted: the hub calls Subscribe once per local
	// subscription and Unsubscribe exactly once for each Subscribe, even
	// one that failed, and the node listens while any is outstanding (a
	// cluster broker keeps that wanted set and re-establishes it after a
	// reconnect by itself). Subscribe returns once publications (and
	// channel-routed controls) of the channel will be delivered, waiting
	// for an acknowledgement another caller already has in flight, so a
	// subscriber that reads state after it misses nothing; an error means
	// that could not be confirmed in time.
	Subscribe(app, channel string) error
	Unsubscribe(app, channel string) error
	// SubscribeUser and UnsubscribeUser do the same for user-routed
	// controls: the hub subscribes for each local socket signed in as the
	// user or watching the user.
	SubscribeUser(app, user string) error
	UnsubscribeUser(app, user string) error
}

// Memory is the single-node broker: it calls the handler directly.
type Memory struct{ handler Handler }

var _ Broker = (*Memory)(nil)

// NewMemory returns a broker that delivers to h synchronously.
func NewMemory(h Handler) *Memory { return &Memory{handler: h} }

func (b *Memory) Publish(_ context.Context, p *Publication) error {
	b.handler.Deliver(p)
	return nil
}

func (b *Memory) Send(_ context.Context, c Control) error {
	b.handler.Control(c)
	return nil
}

func (b *Memory) Subscribe(string, string) error       { return nil }
func (b *Memory) Unsubscribe(string, string) error     { return nil }
func (b *Memory) SubscribeUser(string, string) error   { return nil }
func (b *Memory) UnsubscribeUser(string, string) error { return nil }
