package hub

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
)

// subscribeRequest is pusher:subscribe's data. Fields are raw so that wrong
// types are reported precisely instead of failing the whole decode.
type subscribeRequest struct {
	Channel     json.RawMessage `json:"channel"`
	Auth        json.RawMessage `json:"auth"`
	ChannelData json.RawMessage `json:"channel_data"`
	History     json.RawMessage `json:"history"` // docs/features.md §7.2
	Since       json.RawMessage `json:"since"`   // docs/features.md §7.2
}

// subError is a pusher:subscription_error (docs/protocol.md §7.5).
type subError struct {
	typ    string
	msg    string
	status int
}

func (e *subError) Error() string { return e.msg }

var (
	errNotSigned = &subError{"AuthError", "Invalid signature", 401}
	errChanLimit = &subError{"LimitReached", "Too many channels on this connection", 4100}
	errFull      = &subError{"LimitReached", "Presence channel member limit reached", 4100}
)

func invalidData(msg string) *subError { return &subError{"InvalidData", msg, 400} }
func forbidden(msg string) *subError   { return &subError{"AuthError", msg, 403} }

// optionalString decodes an absent/null field as "" and refuses non-strings.
func optionalString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func (n *Node) subscribe(c *Conn, f *protocol.Frame) {
	var req subscribeRequest
	if err := protocol.DecodeData(f.Data, &req); err != nil {
		c.sendError(0, "Invalid pusher:subscribe data: "+err.Error())
		return
	}
	name, ok := optionalString(req.Channel)
	if !ok || name == "" {
		c.sendError(0, "pusher:subscribe requires a string \"channel\"")
		return
	}
	r, err := n.trySubscribe(c, name, &req)
	if err != nil {
		c.send(subscriptionError(name, err))
		return
	}
	if r != nil && r.sub != nil {
		n.replay(c, r)
	}
}

func subscriptionError(channel string, e *subError) []byte {
	data := make([]byte, 0, 80+len(e.msg))
	data = append(data, `{"type":`...)
	data = protocol.AppendString(data, e.typ)
	data = append(data, `,"error":`...)
	data = protocol.AppendString(data, e.msg)
	data = append(data, `,"status":`...)
	data = strconv.AppendInt(data, int64(e.status), 10)
	data = append(data, '}')
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: "pusher:subscription_error", Channel: channel, Data: string(data)}))
}

// trySubscribe authorises and joins; a replay it returns is run by the
// caller once c.mu is released, since it reads the store.
func (n *Node) trySubscribe(c *Conn, name string, req *subscribeRequest) (*replayRequest, *subError) {
	app := c.settings()
	ch, err := protocol.ParseChannel(name, app.Limits.MaxNameLength)
	if err != nil {
		return nil, &subError{"LimitReached", "Invalid channel name: " + err.Error(), 4009}
	}
	auth, ok := optionalString(req.Auth)
	if !ok {
		return nil, invalidData("\"auth\" must be a string")
	}
	channelData, ok := optionalString(req.ChannelData)
	if !ok {
		return nil, invalidData("\"channel_data\" must be a JSON string")
	}
	member, serr := n.authorize(c, ch, auth, channelData, len(req.ChannelData) > 0 && string(req.ChannelData) != "null")
	if serr != nil {
		return nil, serr
	}
	if handled, serr := n.ext.subscribe(c, ch, member, req); handled {
		return nil, serr
	}
	r, serr := n.ext.replayRequest(app, req)
	if serr != nil {
		return nil, serr
	}

	c.mu.Lock()
	defer n.unlock(c)
	if c.gone {
		return nil, nil // torn down meanwhile: nothing to join
	}
	if member, serr = n.ext.eligible(c, ch, member); serr != nil {
		return nil, serr
	}
	if existing := c.subs[name]; existing != nil {
		// Idempotent re-subscribe, or a channel held through an alias or
		// peer source gaining the direct one: re-authorised above; answer
		// with the current state, keep the original member data, no member
		// events.
		existing.src |= srcDirect
		frame, snap, serr := n.succeededFrame(c, ch)
		if serr != nil {
			return nil, serr
		}
		existing.sub.members.Store(snap.Version)
		c.send(frame)
		n.sendCacheFrame(c, ch)
		return nil, nil
	}
	cs, joined, serr := n.join(c, ch, member, srcDirect, true)
	if serr != nil {
		return nil, serr
	}
	snap, serr := n.answer(c, cs, r)
	if serr != nil {
		return nil, serr
	}
	n.ext.joined(c, cs, joined, &snap)
	return r, nil
}

// answer queues a direct subscribe's subscription_succeeded (with the
// member snapshot on presence channels) and cache frame, then releases
// the frames held since the join, without the member events the
// snapshot holds; with a replay pending, the replay releases them.
// Caller holds c.mu. If the member list cannot be read the join is
// undone: answering with a wrong list would be worse than a retry. It
// returns the member snapshot it answered with.
func (n *Node) answer(c *Conn, cs *chanSub, r *replayRequest) (state.Snapshot, *subError) {
	frame, snap, serr := n.succeededFrame(c, cs.ch)
	if serr != nil {
		n.leave(c, cs)
		return snap, serr
	}
	version := snap.Version
	cs.sub.members.Store(version)
	c.send(frame)
	n.sendCacheFrame(c, cs.ch)
	if r != nil {
		r.ch, r.sub, r.members = cs.ch, cs.sub, version
		return snap, nil
	}
	if h := cs.sub.hold.Load(); h != nil {
		h.release(cs.sub, skip{memberVersion: version})
	}
	return snap, nil
}

// succeededFrame builds subscription_succeeded with the channel's current
// state; for presence it lists the members (the joiner included) and
// returns the snapshot (empty on other channels).
func (n *Node) succeededFrame(c *Conn, ch protocol.Channel) ([]byte, state.Snapshot, *subError) {
	data := "{}"
	var snap state.Snapshot
	if ch.Kind == protocol.Presence {
		var err error
		if snap, err = n.state.Members(context.Background(), c.app.ID, ch.Name); err != nil {
			n.stateFailed("members", c.app.ID, err)
			return nil, snap, errStateDown
		}
		data = string(presenceData(snap.Members))
	}
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: "pusher_internal:subscription_succeeded", Channel: ch.Name, Data: data})), snap, nil
}

func presenceData(members []state.Member) []byte {
	b := make([]byte, 0, 64+len(members)*32)
	b = append(b, `{"presence":{"ids":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.RawID...)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, m.UserID)
		b = append(b, ':')
		b = append(b, m.Info...)
	}
	b = append(b, `},"count":`...)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	return append(b, "}}"...)
}

// sendCacheFrame follows subscription_succeeded on cache channels with the
// cached event, or pusher:cache_miss (docs/protocol.md §10). A failed read
// is answered as a miss, without the cache_miss webhook: the client asks
// its backend for the value, as it would after a real miss.
func (n *Node) sendCacheFrame(c *Conn, ch protocol.Channel) {
	if !ch.Cache {
		return
	}
	ev, ok, err := n.state.Cache(context.Background(), c.app.ID, ch.Name)
	if err != nil {
		n.stateFailed("cache read", c.app.ID, err)
	}
	if !ok {
		if app := c.settings(); err == nil && len(app.Webhooks) > 0 && n.misses.first(chanKey{app.ID, ch.Name}, time.Now()) {
			n.hook(app, WebhookEvent{Name: "cache_miss", Channel: ch.Name})
		}
		miss := append(append([]byte(`{"event":"pusher:cache_miss","channel":`), protocol.AppendString(nil, ch.Name)...), '}')
		c.send(textFrame(miss))
		return
	}
	c.send(textFrame(protocol.EncodeEvent(&protocol.Event{Name: ev.Event, Channel: ch.Name, Data: ev.Data})))
}

func (n *Node) unsubscribe(c *Conn, f *protocol.Frame) {
	var req subscribeRequest
	if err := protocol.DecodeData(f.Data, &req); err != nil {
		c.sendError(0, "Invalid pusher:unsubscribe data: "+err.Error())
		return
	}
	name, ok := optionalString(req.Channel)
	if !ok || name == "" {
		c.sendError(0, "pusher:unsubscribe requires a string \"channel\"")
		return
	}
	c.mu.Lock()
	defer n.unlock(c)
	if cs := c.subs[name]; cs != nil {
		// An alias source stays until its follow or personal channel goes
		// (docs/features.md §1).
		n.dropSource(c, cs, srcDirect|srcPeer)
	}
}
