package hub

import (
	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
)

// What pushi adds to the Pusher protocol (docs/features.md) plugs into the
// core subscribe path at the hook points below and nowhere else; the core
// (subscribe.go, membership.go) reads as plain Pusher with a call at each.
// The features themselves live in personal.go (personal channels and
// follows), peer.go (peer channels), replay.go (history on subscribe),
// latest.go (pushi:latest) and persist.go (stored events).
type pushi struct{ n *Node }

// connExt is the per-connection state only pushi's extensions need, kept
// behind one pointer so plain Pusher connections stay small.
type connExt struct {
	personal map[string]*personalSub // held personal channels by name
	peerSync []string                // presence channels to announce once c.mu is released
}

func (c *Conn) extension() *connExt {
	if c.ext == nil {
		c.ext = &connExt{personal: map[string]*personalSub{}}
	}
	return c.ext
}

// subscribe takes the subscribes that are pushi's own from the start:
// personal channels (docs/features.md §3). handled reports that it did.
func (p pushi) subscribe(c *Conn, ch protocol.Channel, member *joiningMember, req *subscribeRequest) (handled bool, serr *subError) {
	if ch.Kind != protocol.Personal {
		return false, nil
	}
	return true, p.n.subscribePersonal(c, ch, member, req)
}

// replayRequest reads a subscribe's "since"/"history" (docs/features.md
// §7.2); nil when none was asked for.
func (p pushi) replayRequest(app *apps.App, req *subscribeRequest) (*replayRequest, *subError) {
	return parseReplay(app.Persistence.ReadMax, req.Since, req.History)
}

// eligible settles the identity of a subscribe once c.mu is held: on a
// peer channel it is the socket's presence membership, checked here so it
// is atomic with the join (docs/features.md §4). Caller holds c.mu.
func (p pushi) eligible(c *Conn, ch protocol.Channel, member *joiningMember) (*joiningMember, *subError) {
	if ch.Kind != protocol.Peer {
		return member, nil
	}
	if m := peerIdentity(c, ch.Name); m != nil {
		return m, nil
	}
	return nil, forbidden("Socket is not eligible for this peer channel")
}

// joined runs after every join: a peer-enabled presence member gets its
// pairs. answered is the member snapshot of a direct subscribe's answer,
// nil for automatic joins. Caller holds c.mu.
func (p pushi) joined(c *Conn, cs *chanSub, joined state.Joined, answered *state.Snapshot) {
	if cs.ch.Kind == protocol.Presence && cs.member != nil && cs.member.peer {
		p.n.peerJoined(c, cs, joined.Member, answered)
	}
}

// leaving runs after every leave: the peer channels derived from a
// presence membership go with it, as do a personal channel's aliases.
// recorded is false when the cluster state could not record the leave
// (it is repaired later). Caller holds c.mu.
func (p pushi) leaving(c *Conn, cs *chanSub, left state.Left, recorded bool) {
	if cs.ch.Kind == protocol.Presence && cs.member != nil && cs.member.peer {
		p.n.peerLeft(c, cs, left.Member, recorded)
	}
	if cs.ch.Kind == protocol.Personal {
		p.n.leavePersonal(c, cs.ch.Name)
	}
}

// takePeerSyncs returns the peer announcements queued under c.mu, to be
// published once it is released: their delivery takes other connections'
// Conn.mu, which is never taken while one is held, so two connections
// never wait on each other. Caller holds c.mu.
func (p pushi) takePeerSyncs(c *Conn) []string {
	if c.ext == nil || len(c.ext.peerSync) == 0 {
		return nil
	}
	pending := c.ext.peerSync
	c.ext.peerSync = nil
	return pending
}

func (p pushi) announcePeerSyncs(app string, channels []string) {
	for _, ch := range channels {
		p.n.publishPeerSync(app, ch)
	}
}

// followChanged applies a follow change from any node (broker control).
func (p pushi) followChanged(m broker.FollowChanged) {
	p.n.followChanged(m.App, protocol.PersonalPrefix+m.UserID, m.Channel, m.Added)
}

// syncPeers reconciles the local peer-enabled members of a presence
// channel (broker control).
func (p pushi) syncPeers(app, channel string) { p.n.syncPeers(app, channel) }
