package hub

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
)

// Peer channels (docs/features.md §4). Who is paired is derived from the state
// store: in a presence channel, every two users that each have a
// peer-enabled socket there. Each peer-enabled socket remembers the pairs
// announced to it (memberRef.pairs) and reconciles them against the store
// whenever the set of peer-enabled users changes, so the outcome does not
// depend on the order in which concurrent joins and leaves are seen.

// peerIdentity returns the identity a socket subscribes to a peer channel
// with: its membership of the pair's presence channel when that opted in
// to peers and is one of the two users, else nil. Caller holds c.mu.
func peerIdentity(c *Conn, name string) *joiningMember {
	presenceName, x, y, ok := protocol.ParsePeerChannel(name)
	if !ok {
		return nil
	}
	cs := c.subs[presenceName]
	if cs == nil || cs.member == nil || !cs.member.peer || (cs.member.userID != x && cs.member.userID != y) {
		return nil
	}
	return &joiningMember{userID: cs.member.userID, rawID: cs.member.rawID}
}

// peerJoined runs after a peer-enabled socket joined presence channel cs:
// it gets the existing pairs, and when it is its user's first peer-enabled
// socket there, the other users' sockets are told once c.mu is released.
//
// answered is the member snapshot a direct subscribe was answered with
// (nil for automatic joins): the pairs announced now are those of its
// members, so a peer_added never comes before the member_added of a user
// the socket has not been shown yet. A later member's pair follows its
// PeerSync, which it publishes after its member_added.
func (n *Node) peerJoined(c *Conn, cs *chanSub, stored state.Member, answered *state.Snapshot) {
	n.reconcilePeers(c, cs, answered)
	if stored.PeerConns == 1 {
		n.queuePeerSync(c, cs.ch.Name)
	}
}

// peerLeft runs when a peer-enabled socket left presence channel cs: the
// pair channels it was eligible for through it go (direct sources too),
// and when its user has no peer-enabled socket left, the pairs dissolve.
// An unrecorded leave is announced by the repair that records it.
func (n *Node) peerLeft(c *Conn, cs *chanSub, stored state.Member, recorded bool) {
	for name, held := range c.subs {
		if held.ch.Kind != protocol.Peer {
			continue
		}
		if p, _, _, ok := protocol.ParsePeerChannel(name); ok && p == cs.ch.Name {
			n.dropSource(c, held, srcDirect|srcPeer)
		}
	}
	if recorded && stored.PeerConns == 0 {
		n.queuePeerSync(c, cs.ch.Name)
	}
}

// queuePeerSync has the presence channel's other sockets reconcile once
// c.mu is released (see unlock). Caller holds c.mu.
func (n *Node) queuePeerSync(c *Conn, channel string) {
	ext := c.extension()
	ext.peerSync = append(ext.peerSync, channel)
}

// reconcilePeers brings the pairs announced to a peer-enabled socket of
// presence channel cs to those the store implies. Caller holds c.mu.
func (n *Node) reconcilePeers(c *Conn, cs *chanSub, known *state.Snapshot) {
	app := c.settings()
	me := cs.member
	if known == nil {
		snap, err := n.state.Members(context.Background(), app.ID, cs.ch.Name)
		if err != nil {
			// Left as announced; the next PeerSync of the channel reconciles.
			n.stateFailed("members", app.ID, err)
			return
		}
		known = &snap
	}
	members := known.Members
	want := map[string]json.RawMessage{}
	for _, m := range members {
		if m.PeerConns == 0 || m.UserID == me.userID {
			continue
		}
		if name, ok := protocol.PeerChannel(cs.ch.Name, me.userID, m.UserID, app.Limits.MaxNameLength); ok {
			want[name] = m.RawID
		}
	}
	for _, name := range sortedKeys(me.pairs) {
		if _, ok := want[name]; ok {
			continue
		}
		partner := me.pairs[name]
		delete(me.pairs, name)
		if held := c.subs[name]; held != nil {
			n.dropSource(c, held, srcPeer)
		}
		c.send(peerFrame("pushi_internal:peer_removed", cs.ch.Name, name, partner))
	}
	for _, name := range sortedKeys(want) {
		if _, ok := me.pairs[name]; ok || !n.addPeerSource(c, me, name) {
			continue // announced already, or over the per-socket limit: retried on the next change
		}
		if me.pairs == nil {
			me.pairs = map[string]json.RawMessage{}
		}
		me.pairs[name] = want[name]
		c.send(peerFrame("pushi_internal:peer_added", cs.ch.Name, name, want[name]))
	}
}

// addPeerSource holds peer channel name with source peer, joining it
// unless already held. Caller holds c.mu.
func (n *Node) addPeerSource(c *Conn, me *memberRef, name string) bool {
	if held := c.subs[name]; held != nil {
		held.src |= srcPeer
		return true
	}
	ch, err := protocol.ParseChannel(name, c.settings().Limits.MaxNameLength)
	if err != nil {
		return false
	}
	_, _, serr := n.join(c, ch, &joiningMember{userID: me.userID, rawID: me.rawID}, srcPeer, false)
	return serr == nil
}

func (n *Node) publishPeerSync(app, channel string) {
	if err := n.broker.Send(context.Background(), broker.PeerSync{App: app, Channel: channel}); err != nil {
		n.log.Error("peer sync publish failed", "app", app, "err", err)
	}
}

// syncPeers reconciles every local peer-enabled socket of a presence
// channel (a PeerSync from any node).
func (n *Node) syncPeers(app, channel string) {
	for _, c := range n.index.conns(app, channel) {
		c.mu.Lock()
		if cs := c.subs[channel]; !c.gone && cs != nil && cs.member != nil && cs.member.peer {
			n.reconcilePeers(c, cs, nil)
		}
		n.unlock(c)
	}
}

func peerFrame(event, presenceName, peerName string, partner json.RawMessage) []byte {
	b := append([]byte(`{"channel":`), protocol.AppendString(nil, peerName)...)
	b = append(append(b, `,"user_id":`...), partner...)
	b = append(b, '}')
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: event, Channel: presenceName, Data: string(b)}))
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
