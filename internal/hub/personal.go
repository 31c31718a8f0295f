package hub

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// personalSub is one held personal channel (docs/features.md §3).
type personalSub struct {
	identity *joiningMember      // the user on followed presence and peer channels
	alias    map[string]struct{} // followed channels held through it
}

var errStoreDown = &subError{"InternalError", "Store unavailable", 500}

// authorizePersonal: signed in as <id> with empty auth, or a channel
// signature, over channel_data when present (docs/features.md §3). It returns the
// identity for followed presence channels: channel_data's, else the signed
// user_data's, else the bare id the signature vouches for.
func authorizePersonal(c *Conn, ch protocol.Channel, auth, channelData string, hasChannelData bool, secrets []string) (*joiningMember, *subError) {
	app := c.settings()
	id := strings.TrimPrefix(ch.Name, protocol.PersonalPrefix)
	if !protocol.IsValidUserID(id, app.Limits.PresenceMaxUserIDLength) {
		return nil, &subError{"LimitReached", "Invalid channel name: the user id is empty or over " + itoa(app.Limits.PresenceMaxUserIDLength) + " characters", 4009}
	}
	c.mu.Lock()
	userID, info := c.userID, c.userInfo
	c.mu.Unlock()
	signedIn := &joiningMember{userID: id, rawID: protocol.AppendString(nil, id), info: info}
	if auth == "" {
		if userID != id {
			return nil, forbidden("Socket is not signed in as this user")
		}
		if serr := checkInfoSize(info, app.Limits.PresenceMaxUserInfoBytes); serr != nil {
			return nil, serr // it would join followed presence channels
		}
		return signedIn, nil // signin-derived identities never opt in to peers
	}
	if !protocol.VerifyAuth(auth, app.Key, protocol.ChannelAuthMessage(c.socketID, ch.Name, channelData), secrets) {
		return nil, errNotSigned
	}
	if hasChannelData {
		m, err := parseMember(channelData, app.Limits.PresenceMaxUserIDLength, app.Limits.PresenceMaxUserInfoBytes)
		if err != nil {
			return nil, err
		}
		if m.userID != id {
			return nil, forbidden("channel_data user_id does not match the personal channel")
		}
		return m, nil
	}
	if userID != id {
		signedIn.info = json.RawMessage("{}")
	} else if serr := checkInfoSize(info, app.Limits.PresenceMaxUserInfoBytes); serr != nil {
		return nil, serr
	}
	return signedIn, nil
}

// subscribePersonal joins personal-<id> and every channel the user follows
// (source alias), and answers with the joined aliases and the newest inbox
// entries. Store reads happen before the hub is touched.
func (n *Node) subscribePersonal(c *Conn, ch protocol.Channel, ident *joiningMember, req *subscribeRequest) *subError {
	app := c.settings()
	count, serr := inboxCount(app, req.History)
	if serr != nil {
		return serr
	}
	ctx := context.Background()
	follows, events, err := n.readPersonal(ctx, app.ID, ident.userID, count)
	if err != nil {
		n.log.Error("personal channel read failed", "app", app.ID, "err", err)
		return errStoreDown
	}

	c.mu.Lock()
	defer n.unlock(c)
	if c.gone {
		return nil
	}
	if cs := c.subs[ch.Name]; cs != nil {
		// Idempotent re-subscribe: the aliases are kept in sync live.
		c.send(personalSucceeded(ch.Name, c.ext.personal[ch.Name].sorted(), events))
		return nil
	}
	if len(c.subs) >= app.Limits.MaxChannelsPerConnection {
		return errChanLimit
	}
	ps := &personalSub{identity: ident, alias: map[string]struct{}{}}
	c.extension().personal[ch.Name] = ps
	for _, name := range follows {
		n.addAlias(c, ps, name, 1) // one slot stays free for the personal channel
	}
	alias := ps.sorted()
	cs, _, serr := n.join(c, ch, nil, srcDirect, true)
	if serr != nil {
		n.leavePersonal(c, ch.Name)
		return serr
	}
	c.send(personalSucceeded(ch.Name, alias, events))
	if h := cs.sub.hold.Load(); h != nil {
		h.release(cs.sub, skip{})
	}
	// A follow committed after the read above may have been announced
	// before this socket was in the hub. Re-reading now, under c.mu, closes
	// that window: a later change finds the socket and waits for c.mu.
	if st := n.opts.Store; st != nil {
		latest, err := st.FollowedBy(ctx, app.ID, ident.userID)
		if err != nil {
			n.log.Error("follows read failed", "app", app.ID, "err", err)
			return nil
		}
		n.resyncAliases(c, ch.Name, ps, latest)
	}
	return nil
}

// inboxCount is how many inbox entries subscription_succeeded carries:
// the subscribe's history field, else inbox_on_subscribe, capped at read_max.
func inboxCount(app *apps.App, raw json.RawMessage) (int, *subError) {
	count := app.Persistence.InboxOnSubscribe
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &count); err != nil || count < 1 {
			return 0, invalidData("\"history\" must be an integer from 1 to read_max")
		}
	}
	return min(count, app.Persistence.ReadMax), nil
}

func (n *Node) readPersonal(ctx context.Context, appID, userID string, count int) ([]string, []store.Event, error) {
	st := n.opts.Store
	if st == nil {
		return nil, nil, nil
	}
	follows, err := st.FollowedBy(ctx, appID, userID)
	if err != nil || count <= 0 {
		return follows, nil, err
	}
	events, _, err := st.Inbox(ctx, appID, userID, store.InboxQuery{Limit: count})
	return follows, events, err
}

// addAlias holds a followed channel through ps, joining it unless already
// held; reserve slots of the per-socket limit stay free. It reports
// whether the channel is now held (full presence channels and the limit
// skip it). Caller holds c.mu.
func (n *Node) addAlias(c *Conn, ps *personalSub, name string, reserve int) bool {
	app := c.settings()
	ch, err := protocol.ParseChannel(name, app.Limits.MaxNameLength)
	if err != nil || ch.Kind == protocol.Personal || ch.Kind == protocol.ServerToUser || ch.Kind == protocol.Peer {
		// Refused when followed (a peer channel belongs to its two users
		// only), or a stricter app limit since; a follow stored before the
		// refusal existed is ignored here.
		return false
	}
	if cs := c.subs[name]; cs != nil {
		cs.src |= srcAlias
		ps.alias[name] = struct{}{}
		return true
	}
	if len(c.subs)+reserve >= app.Limits.MaxChannelsPerConnection {
		return false
	}
	var member *joiningMember
	if ch.Kind == protocol.Presence || ch.Kind == protocol.Peer {
		member = ps.identity
	}
	if _, _, serr := n.join(c, ch, member, srcAlias, false); serr != nil {
		return false
	}
	ps.alias[name] = struct{}{}
	return true
}

// removeAlias stops holding name through ps. Caller holds c.mu.
func (n *Node) removeAlias(c *Conn, ps *personalSub, name string) {
	delete(ps.alias, name)
	n.unalias(c, name)
}

// unalias drops the alias source of name unless another held personal
// channel still follows it.
func (n *Node) unalias(c *Conn, name string) {
	for _, other := range c.ext.personal {
		if _, ok := other.alias[name]; ok {
			return
		}
	}
	if cs := c.subs[name]; cs != nil {
		n.dropSource(c, cs, srcAlias)
	}
}

// leavePersonal drops every alias source a personal channel gave; it
// never fails (docs/features.md §3). Caller holds c.mu.
func (n *Node) leavePersonal(c *Conn, name string) {
	if c.ext == nil {
		return
	}
	ps := c.ext.personal[name]
	if ps == nil {
		return
	}
	delete(c.ext.personal, name)
	for _, a := range ps.sorted() {
		n.unalias(c, a)
	}
}

// resyncAliases brings ps to the followed channels latest (sorted) and
// tells the socket what changed. Caller holds c.mu.
func (n *Node) resyncAliases(c *Conn, personal string, ps *personalSub, latest []string) {
	want := make(map[string]bool, len(latest))
	for _, name := range latest {
		want[name] = true
	}
	var added, removed []string
	for _, name := range ps.sorted() {
		if !want[name] {
			n.removeAlias(c, ps, name)
			removed = append(removed, name)
		}
	}
	for _, name := range latest {
		if _, ok := ps.alias[name]; !ok && n.addAlias(c, ps, name, 0) {
			added = append(added, name)
		}
	}
	if len(added)+len(removed) > 0 {
		c.send(aliasChangedFrame(personal, ps.sorted(), added, removed))
	}
}

// followChanged applies a follow change to the local sockets holding the
// follower's personal channel (docs/features.md §3 live re-sync).
func (n *Node) followChanged(app, personal, channel string, added bool) {
	for _, c := range n.index.conns(app, personal) {
		n.applyFollow(c, personal, channel, added)
	}
}

func (n *Node) applyFollow(c *Conn, personal, channel string, added bool) {
	c.mu.Lock()
	defer n.unlock(c)
	if c.gone || c.ext == nil {
		return
	}
	ps := c.ext.personal[personal]
	if ps == nil {
		return
	}
	_, has := ps.alias[channel]
	switch {
	case added && !has:
		if n.addAlias(c, ps, channel, 0) {
			c.send(aliasChangedFrame(personal, ps.sorted(), []string{channel}, nil))
		}
	case !added && has:
		n.removeAlias(c, ps, channel)
		c.send(aliasChangedFrame(personal, ps.sorted(), nil, []string{channel}))
	}
}

func (ps *personalSub) sorted() []string {
	out := make([]string, 0, len(ps.alias))
	for name := range ps.alias {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// personalSucceeded is subscription_succeeded on a personal channel:
// {"alias":[…],"events":[…]} with inbox entries newest first (§7.1 shape).
func personalSucceeded(channel string, alias []string, events []store.Event) []byte {
	b := make([]byte, 0, 64+len(events)*128)
	b = append(b, `{"alias":`...)
	b = appendStrings(b, alias)
	b = append(b, `,"events":[`...)
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStoredEvent(b, &events[i])
	}
	b = append(b, "]}"...)
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: "pusher_internal:subscription_succeeded", Channel: channel, Data: string(b)}))
}

func aliasChangedFrame(personal string, alias, added, removed []string) []byte {
	b := append([]byte(`{"alias":`), appendStrings(nil, alias)...)
	b = append(append(b, `,"added":`...), appendStrings(nil, added)...)
	b = append(append(b, `,"removed":`...), appendStrings(nil, removed)...)
	b = append(b, '}')
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: "pushi_internal:alias_changed", Channel: personal, Data: string(b)}))
}

func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, s)
	}
	return append(b, ']')
}

// appendStoredEvent encodes a record as clients see it (docs/features.md §7):
// {"mid","seq","timestamp","channel","event","data","user_id"?}.
func appendStoredEvent(b []byte, e *store.Event) []byte {
	b = append(b, `{"mid":`...)
	b = protocol.AppendString(b, e.MID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"timestamp":`...)
	b = appendTimestamp(b, e.Timestamp)
	b = append(b, `,"channel":`...)
	b = protocol.AppendString(b, e.Channel)
	b = append(b, `,"event":`...)
	b = protocol.AppendString(b, e.Event)
	b = append(b, `,"data":`...)
	b = protocol.AppendString(b, e.Data)
	if e.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = protocol.AppendString(b, e.UserID)
	}
	return append(b, '}')
}
