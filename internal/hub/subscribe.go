package hub

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/presence"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/webhook"
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
	if r != nil && r.hold != nil {
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
	return TextFrame(protocol.EncodeEvent(&protocol.Event{Name: "pusher:subscription_error", Channel: channel, Data: string(data)}))
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
	if ch.Kind == protocol.Personal {
		return nil, n.subscribePersonal(c, ch, member, req)
	}
	r, serr := parseReplay(app.Persistence.ReadMax, req.Since, req.History)
	if serr != nil {
		return nil, serr
	}

	c.mu.Lock()
	defer n.unlock(c)
	if c.gone {
		return nil, nil // torn down meanwhile: nothing to join
	}
	if ch.Kind == protocol.Peer {
		// Eligibility rests on the socket's presence membership, so it is
		// checked under c.mu, atomically with the join (docs/features.md §4).
		if member = peerIdentity(c, name); member == nil {
			return nil, forbidden("Socket is not eligible for this peer channel")
		}
	}
	if existing := c.subs[name]; existing != nil {
		// Idempotent re-subscribe, or a channel held through an alias or
		// peer source gaining the direct one: re-authorised above; answer
		// with the current state, keep the original member data, no member
		// events.
		existing.src |= srcDirect
		c.send(n.succeededFrame(c, ch))
		n.sendCacheFrame(c, ch)
		return nil, nil
	}
	_, serr = n.join(c, ch, member, srcDirect, func() {
		c.send(n.succeededFrame(c, ch))
		n.sendCacheFrame(c, ch)
		if r != nil {
			r.startHold(c, ch, c.subs[ch.Name].sub)
		}
	})
	return r, serr
}

// succeededFrame builds subscription_succeeded with the channel's current
// state; for presence it lists the members (the joiner included).
func (n *Node) succeededFrame(c *Conn, ch protocol.Channel) []byte {
	data := "{}"
	if ch.Kind == protocol.Presence {
		members, err := n.state.Members(context.Background(), c.app.ID, ch.Name)
		if err != nil {
			n.log.Error("presence members failed", "app", c.app.ID, "err", err)
		}
		data = string(presenceData(members))
	}
	return TextFrame(protocol.EncodeEvent(&protocol.Event{Name: "pusher_internal:subscription_succeeded", Channel: ch.Name, Data: data}))
}

func presenceData(members []presence.Member) []byte {
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
// cached event, or pusher:cache_miss (docs/protocol.md §10).
func (n *Node) sendCacheFrame(c *Conn, ch protocol.Channel) {
	if !ch.Cache {
		return
	}
	ev, ok, err := n.state.Cache(context.Background(), c.app.ID, ch.Name)
	if err != nil {
		n.log.Error("cache read failed", "app", c.app.ID, "err", err)
	}
	if !ok {
		if app := c.settings(); err == nil && len(app.Webhooks) > 0 && n.misses.first(chanKey{app.ID, ch.Name}, time.Now()) {
			n.hook(app, webhook.Event{Name: "cache_miss", Channel: ch.Name})
		}
		miss := append(append([]byte(`{"event":"pusher:cache_miss","channel":`), protocol.AppendString(nil, ch.Name)...), '}')
		c.send(TextFrame(miss))
		return
	}
	c.send(TextFrame(protocol.EncodeEvent(&protocol.Event{Name: ev.Event, Channel: ch.Name, Data: ev.Data})))
}

func (n *Node) publishMember(app, channel, event string, rawID, info []byte, exclude string) {
	data := make([]byte, 0, 32+len(rawID)+len(info))
	data = append(data, `{"user_id":`...)
	data = append(data, rawID...)
	if info != nil {
		data = append(data, `,"user_info":`...)
		data = append(data, info...)
	}
	data = append(data, '}')
	payload := protocol.EncodeEvent(&protocol.Event{Name: event, Channel: channel, Data: string(data)})
	if err := n.broker.Publish(context.Background(), &broker.Message{Kind: broker.ChannelEvent, App: app, Channel: channel, Exclude: exclude, Payload: payload}); err != nil {
		n.log.Error("member event publish failed", "app", app, "err", err)
	}
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

// leave removes one subscription. Caller holds c.mu.
func (n *Node) leave(c *Conn, cs *chanSub) {
	app := c.settings()
	name := cs.ch.Name
	delete(c.subs, name)
	if n.hub.Remove(app.ID, name, cs.sub) {
		if err := n.broker.Unsubscribe(app.ID, name); err != nil {
			n.log.Error("broker unsubscribe failed", "app", app.ID, "err", err)
		}
	}
	ctx := context.Background()
	count, err := n.state.RemoveSubscriber(ctx, app.ID, name, c.socketID)
	if err != nil {
		n.log.Error("subscriber remove failed", "app", app.ID, "err", err)
	}
	if cs.member != nil && cs.ch.Kind == protocol.Presence {
		stored, last, err := n.state.RemoveMember(ctx, app.ID, name, c.socketID, cs.member.userID)
		if err != nil {
			n.log.Error("presence remove failed", "app", app.ID, "err", err)
		}
		if last {
			// The JSON type first supplied for the user is kept on the wire
			// (docs/protocol.md §7.3), not this socket's own channel_data type.
			rawID := cs.member.rawID
			if len(stored.RawID) > 0 {
				rawID = stored.RawID
			}
			n.publishMember(app.ID, name, "pusher_internal:member_removed", rawID, nil, c.socketID)
			n.hook(app, webhook.Event{Name: "member_removed", Channel: name, UserID: cs.member.userID})
		}
		if cs.member.peer {
			n.peerLeft(c, cs, stored)
		}
	}
	if err == nil && count == 0 && channelHooks(cs.ch) {
		n.hook(app, webhook.Event{Name: "channel_vacated", Channel: name})
	}
	n.counts.changed(app, cs.ch, count)
	if cs.ch.Kind == protocol.Personal {
		n.leavePersonal(c, name)
	}
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
