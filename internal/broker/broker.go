// Package broker moves messages between the nodes of a cluster. Every node
// publishes through it and delivers what it receives to its local
// connections, so a single node and a cluster run the same code.
package broker

import "context"

// Kind says what a message asks the receiving nodes to do.
type Kind uint8

const (
	// ChannelEvent: deliver Payload to the local subscribers of Channel,
	// except the connection whose socket id is Exclude.
	ChannelEvent Kind = iota + 1
	// TerminateUser: close every local connection signed in as UserID.
	TerminateUser
	// UserPresence: UserID went online (Online) or offline; tell the local
	// connections watching that user.
	UserPresence
	// FollowChanged: UserID started (Added) or stopped following channel
	// Follow; the local connections holding Channel (personal-<UserID>)
	// join or leave it (docs/features.md §3 live re-sync).
	FollowChanged
	// PeerSync: the peer-enabled users of presence channel Channel changed;
	// its local peer-enabled members re-derive their peer channels from the
	// state store (docs/features.md §4).
	PeerSync
)

// Message is one cross-node message. Payload is the encoded JSON frame;
// each node adds the WebSocket header once and shares the bytes.
type Message struct {
	Kind    Kind
	App     string
	Channel string
	UserID  string
	Online  bool
	Exclude string
	Payload []byte
	Follow  string // FollowChanged: the followed channel
	Added   bool   // FollowChanged: follow created (else removed)
}

// Handler receives every message published by any node, this one included.
type Handler func(*Message)

// Broker publishes messages to every node.
type Broker interface {
	Publish(ctx context.Context, m *Message) error
	// Subscribe and Unsubscribe tell the broker which channels have local
	// subscribers, so a cluster broker only receives what the node needs.
	Subscribe(app, channel string) error
	Unsubscribe(app, channel string) error
}

// Memory is the single-node broker: Publish calls the handler directly.
type Memory struct{ handler Handler }

var _ Broker = (*Memory)(nil)

// NewMemory returns a broker that delivers to h synchronously.
func NewMemory(h Handler) *Memory { return &Memory{handler: h} }

func (b *Memory) Publish(_ context.Context, m *Message) error {
	b.handler(m)
	return nil
}

func (b *Memory) Subscribe(string, string) error   { return nil }
func (b *Memory) Unsubscribe(string, string) error { return nil }
