package hub

import (
	"context"
	"errors"

	"github.com/pushi-io/pushi/internal/presence"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/webhook"
)

// sources say why a socket holds a channel (docs/features.md §1). The socket is
// one subscriber whatever the set, so each event reaches it once; it
// leaves the channel when the last source goes.
type sources uint8

const (
	srcDirect sources = 1 << iota // pusher:subscribe
	srcAlias                      // a follow of a held personal channel
	srcPeer                       // automatic peer pairing
)

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

// unlock releases c.mu, then announces the peer changes queued under it.
// Their delivery takes other connections' Conn.mu, which is never taken
// while one is held, so two connections never wait on each other.
func (n *Node) unlock(c *Conn) {
	var pending []string
	if c.ext != nil {
		pending, c.ext.peerSync = c.ext.peerSync, nil
	}
	c.mu.Unlock()
	for _, channel := range pending {
		n.publishPeerSync(c.app.ID, channel)
	}
}

// join records a new membership of c in ch with source src and adds it to
// the hub, running then under the hub lock (subscription_succeeded of a
// direct subscribe). member is the presence identity on presence channels
// and the user_id of client events on peer channels. Caller holds c.mu and
// has checked that c does not hold ch.
func (n *Node) join(c *Conn, ch protocol.Channel, member *joiningMember, src sources, then func()) (*chanSub, *subError) {
	app := c.settings()
	if len(c.subs) >= app.Limits.MaxChannelsPerConnection {
		return nil, errChanLimit
	}
	ctx := context.Background()
	isMember := member != nil && ch.Kind == protocol.Presence
	first := false
	var stored presence.Member
	if isMember {
		var err error
		stored, first, err = n.state.AddMember(ctx, app.ID, ch.Name, c.socketID,
			presence.Member{UserID: member.userID, RawID: member.rawID, Info: member.info, Peer: member.peer}, app.Limits.PresenceMaxMembers)
		if errors.Is(err, presence.ErrFull) {
			return nil, errFull
		}
		if err != nil {
			n.log.Error("presence add failed", "app", app.ID, "err", err)
			return nil, &subError{"InternalError", "Presence store unavailable", 500}
		}
	}
	count, err := n.state.AddSubscriber(ctx, app.ID, ch.Name, c.socketID)
	if err != nil {
		n.log.Error("subscriber add failed", "app", app.ID, "err", err)
	}
	cs := &chanSub{ch: ch, sub: &Subscription{conn: c, socketID: c.socketID}, src: src}
	if member != nil {
		cs.member = &memberRef{userID: member.userID, rawID: member.rawID}
		if isMember {
			// The id type the user's first connection supplied is the one
			// shown on client events (docs/protocol.md §7.3).
			cs.member.rawID = stored.RawID
			cs.member.peer = member.peer
		}
	}
	c.subs[ch.Name] = cs
	if ch.Kind != protocol.Public && ch.Kind != protocol.ServerToUser {
		c.authed = true
	}
	if err == nil && count == 1 && channelHooks(ch) {
		n.hook(app, webhook.Event{Name: "channel_occupied", Channel: ch.Name})
	}
	if first {
		n.hook(app, webhook.Event{Name: "member_added", Channel: ch.Name, UserID: member.userID})
		// Announce the new member before the joiner's subscription_succeeded
		// is queued: a socket that subscribes after that frame already lists
		// the user and must not get member_added for it too (docs/protocol.md §7.1, §7.3).
		n.publishMember(app.ID, ch.Name, "pusher_internal:member_added", member.rawID, member.info, c.socketID)
	}
	if n.hub.Add(app.ID, ch.Name, cs.sub, then) {
		if err := n.broker.Subscribe(app.ID, ch.Name); err != nil {
			n.log.Error("broker subscribe failed", "app", app.ID, "err", err)
		}
	}
	n.counts.changed(app, ch, count)
	if isMember && member.peer {
		n.peerJoined(c, cs, stored)
	}
	return cs, nil
}

// dropSource removes sources from a held channel and leaves it when none
// is left. Caller holds c.mu.
func (n *Node) dropSource(c *Conn, cs *chanSub, s sources) {
	if cs.src &^= s; cs.src == 0 && c.subs[cs.ch.Name] == cs {
		n.leave(c, cs)
	}
}

// Conns returns the local connections holding a channel, whatever their
// sources: the channel index doubles as the index of personal channel
// holders and presence members.
func (h *Hub) Conns(app, channel string) []*Conn {
	sh := h.shard(app, channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.channels[chanKey{app, channel}]
	if subs == nil {
		return nil
	}
	out := make([]*Conn, len(subs.list))
	for i, s := range subs.list {
		out[i] = s.conn
	}
	return out
}
