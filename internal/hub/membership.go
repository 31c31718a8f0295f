package hub

import (
	"context"
	"errors"

	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
)

// Joining and leaving a channel: the core of the Pusher subscription
// model, shared by direct subscribes and pushi's automatic memberships.
// Every cluster-state, broker and webhook call here runs under the
// connection's own lock at most, never a shared one (lockcheck.go).

// sources say why a socket holds a channel (docs/features.md §1). A plain
// Pusher socket only ever has srcDirect; pushi's personal and peer
// channels add the others. The socket is one subscriber whatever the set,
// so each event reaches it once; it leaves the channel when the last
// source goes.
type sources uint8

const (
	srcDirect sources = 1 << iota // pusher:subscribe
	srcAlias                      // a follow of a held personal channel
	srcPeer                       // automatic peer pairing
)

// errStateDown answers a subscribe the cluster state could not record.
// Nothing was joined, so retrying is safe (docs/architecture.md, "When the
// cluster state fails").
var errStateDown = &subError{"InternalError", "Cluster state unavailable, retry the subscription", 503}

// errBrokerDown answers a subscribe whose channel the broker could not
// confirm it listens to: the socket would miss events, so it is refused
// and nothing is joined.
var errBrokerDown = &subError{"InternalError", "Cluster broker unavailable, retry the subscription", 503}

// join records a new membership of c in ch with source src and adds it to
// the hub. A direct subscribe passes held: the subscription then holds
// its live frames from the instant it is in the hub until answer releases
// them. member is the presence identity on presence channels and the
// user_id of client events on peer channels. Caller holds c.mu and has
// checked that c does not hold ch.
func (n *Node) join(c *Conn, ch protocol.Channel, member *joiningMember, src sources, held bool) (*chanSub, state.Joined, *subError) {
	app := c.settings()
	if len(c.subs) >= app.Limits.MaxChannelsPerConnection {
		return nil, state.Joined{}, errChanLimit
	}
	isMember := member != nil && ch.Kind == protocol.Presence
	var sm *state.Member
	if isMember {
		sm = &state.Member{UserID: member.userID, RawID: member.rawID, Info: member.info, Peer: member.peer}
	}
	// The broker listens before the state is read or written: a cluster
	// broker returns once the channel's publications reach this node, so
	// every member event after the Join below, and every event after the
	// answer's reads, arrives here.
	if err := n.broker.Subscribe(app.ID, ch.Name); err != nil {
		n.brokerFailed("subscribe", app.ID, err)
		n.unsubscribeBroker(app.ID, ch.Name)
		return nil, state.Joined{}, errBrokerDown
	}
	joined, err := n.state.Join(context.Background(), app.ID, ch.Name, c.socketID, sm, app.Limits.PresenceMaxMembers)
	if err != nil {
		n.unsubscribeBroker(app.ID, ch.Name)
		if errors.Is(err, state.ErrFull) {
			return nil, joined, errFull
		}
		n.stateFailed("join", app.ID, err)
		return nil, joined, errStateDown
	}
	cs := &chanSub{ch: ch, sub: &subscription{conn: c, socketID: c.socketID}, src: src}
	if member != nil {
		cs.member = &memberRef{userID: member.userID, rawID: member.rawID}
		if isMember {
			// The id type the user's first connection supplied is the one
			// shown on client events (docs/protocol.md §7.3).
			cs.member.rawID = joined.Member.RawID
			cs.member.peer = member.peer
		}
	}
	c.subs[ch.Name] = cs
	if ch.Kind != protocol.Public && ch.Kind != protocol.ServerToUser {
		c.authed = true
	}
	if joined.Subscriptions == 1 && channelHooks(ch) {
		n.hook(app, WebhookEvent{Name: "channel_occupied", Channel: ch.Name})
	}
	if joined.FirstMember {
		n.hook(app, WebhookEvent{Name: "member_added", Channel: ch.Name, UserID: member.userID})
		n.publishMember(app.ID, ch.Name, "pusher_internal:member_added", member.rawID, member.info, c.socketID, joined.Version)
	}
	if held {
		cs.sub.hold.Store(&hold{conn: c})
	}
	n.index.add(app.ID, ch.Name, cs.sub)
	n.counts.changed(app, ch, joined.Subscriptions)
	if !held {
		n.ext.joined(c, cs, joined, nil) // a held join runs it once answered
	}
	return cs, joined, nil
}

// dropSource removes sources from a held channel and leaves it when none
// is left. Caller holds c.mu.
func (n *Node) dropSource(c *Conn, cs *chanSub, s sources) {
	if cs.src &^= s; cs.src == 0 && c.subs[cs.ch.Name] == cs {
		n.leave(c, cs)
	}
}

// leave removes one subscription. Caller holds c.mu.
func (n *Node) leave(c *Conn, cs *chanSub) {
	app := c.settings()
	name := cs.ch.Name
	delete(c.subs, name)
	n.index.remove(app.ID, name, cs.sub)
	n.unsubscribeBroker(app.ID, name)
	lv := leaving{app: app.ID, ch: cs.ch, socketID: c.socketID}
	if cs.member != nil && cs.ch.Kind == protocol.Presence {
		lv.userID, lv.rawID = cs.member.userID, cs.member.rawID
	}
	left, err := n.state.Leave(context.Background(), app.ID, name, c.socketID, lv.userID)
	if err != nil {
		// The socket is gone locally whatever the state says; the state
		// is brought in line later, and what the leave decides (vacated,
		// member_removed) is raised then.
		n.stateFailed("leave", app.ID, err)
		n.repairs.add(lv)
	} else {
		n.left(lv, left)
	}
	n.ext.leaving(c, cs, left, err == nil)
}

// leaving is what a leave needs once the connection is gone: enough to
// retry it from the repair queue.
type leaving struct {
	app      string
	ch       protocol.Channel
	socketID string
	userID   string // presence channels
	rawID    []byte
}

// left raises what a recorded leave decided: member_removed when the
// user's last connection left, channel_vacated when the channel emptied,
// the subscription count. No lock is needed.
func (n *Node) left(lv leaving, left state.Left) {
	app := n.apps.ByID(lv.app)
	if app == nil {
		return // deleted meanwhile: nobody to tell
	}
	if left.LastMember {
		// The JSON type first supplied for the user is kept on the wire
		// (docs/protocol.md §7.3), not this socket's own channel_data type.
		rawID := lv.rawID
		if len(left.Member.RawID) > 0 {
			rawID = left.Member.RawID
		}
		n.publishMember(app.ID, lv.ch.Name, "pusher_internal:member_removed", rawID, nil, lv.socketID, left.Version)
		n.hook(app, WebhookEvent{Name: "member_removed", Channel: lv.ch.Name, UserID: lv.userID})
	}
	if left.Subscriptions == 0 && channelHooks(lv.ch) {
		n.hook(app, WebhookEvent{Name: "channel_vacated", Channel: lv.ch.Name})
	}
	n.counts.changed(app, lv.ch, left.Subscriptions)
}

// leaveAll runs when the connection ends.
func (n *Node) leaveAll(c *Conn) {
	c.mu.Lock()
	defer n.unlock(c)
	c.gone = true
	for _, cs := range c.subs {
		// Leaving a presence or personal channel also leaves the channels
		// derived from it; the range skips entries deleted meanwhile.
		n.leave(c, cs)
	}
	if c.userID != "" {
		n.signOut(c)
	}
}

// unlock releases c.mu, then publishes what pushi queued under it (ext.go).
func (n *Node) unlock(c *Conn) {
	pending := n.ext.takePeerSyncs(c)
	c.mu.Unlock()
	n.ext.announcePeerSyncs(c.app.ID, pending)
}

func (n *Node) publishMember(app, channel, event string, rawID, info []byte, exclude string, version uint64) {
	data := make([]byte, 0, 32+len(rawID)+len(info))
	data = append(data, `{"user_id":`...)
	data = append(data, rawID...)
	if info != nil {
		data = append(data, `,"user_info":`...)
		data = append(data, info...)
	}
	data = append(data, '}')
	payload := protocol.EncodeEvent(&protocol.Event{Name: event, Channel: channel, Data: string(data)})
	if err := n.broker.Publish(context.Background(), &broker.Publication{App: app, Channel: channel, Exclude: exclude, Payload: payload, MemberVersion: version}); err != nil {
		n.log.Error("member event publish failed", "app", app, "err", err)
	}
}

// unsubscribeBroker balances one broker Subscribe.
func (n *Node) unsubscribeBroker(app, channel string) {
	if err := n.broker.Unsubscribe(app, channel); err != nil {
		n.brokerFailed("unsubscribe", app, err)
	}
}

// brokerFailed counts and logs a failed broker call.
func (n *Node) brokerFailed(op, app string, err error) {
	n.metrics.brokerErrors.Add(1)
	n.log.Error("broker "+op+" failed", "app", app, "err", err)
}

// stateFailed counts and logs a failed cluster-state call.
func (n *Node) stateFailed(op, app string, err error) {
	n.metrics.stateErrors.Add(1)
	n.log.Error("cluster state "+op+" failed", "app", app, "err", err)
}

// conns returns the local connections holding a channel, whatever their
// sources: the channel index doubles as the index of personal channel
// holders and presence members.
func (h *index) conns(app, channel string) []*Conn {
	sh := h.shard(app, channel)
	sh.rlock()
	defer sh.runlock()
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
