package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
)

type signinRequest struct {
	Auth     json.RawMessage `json:"auth"`
	UserData json.RawMessage `json:"user_data"`
}

// userData is the signed user_data of pusher:signin, read by exact key
// (protocol.SignedObject).
type userData struct {
	ID        json.RawMessage
	UserInfo  json.RawMessage
	Watchlist []string
}

func parseUserData(raw string) (userData, error) {
	obj, err := protocol.SignedObject([]byte(raw), "id", "user_info", "watchlist")
	if err != nil {
		return userData{}, err
	}
	ud := userData{ID: obj["id"], UserInfo: obj["user_info"]}
	if w := obj["watchlist"]; len(w) > 0 && string(w) != "null" {
		if err := json.Unmarshal(w, &ud.Watchlist); err != nil {
			return userData{}, err
		}
	}
	return ud, nil
}

// signin runs pusher:signin (docs/protocol.md §11.1). Every failure closes 4009.
func (n *Node) signin(c *Conn, f *protocol.Frame) {
	var req signinRequest
	if err := protocol.DecodeData(f.Data, &req); err != nil {
		c.closeWith(protocol.CodeUnauthorized, "Invalid pusher:signin data")
		return
	}
	auth, ok1 := optionalString(req.Auth)
	raw, ok2 := optionalString(req.UserData)
	if !ok1 || !ok2 || raw == "" {
		c.closeWith(protocol.CodeUnauthorized, "pusher:signin requires string auth and user_data")
		return
	}
	app := c.settings()
	if !protocol.VerifyAuth(auth, app.Key, protocol.SigninMessage(c.socketID, raw), app.Secrets(time.Now())) {
		c.closeWith(protocol.CodeUnauthorized, "Invalid signin signature")
		return
	}
	var id string
	ud, err := parseUserData(raw)
	if errors.Is(err, protocol.ErrAmbiguousKey) {
		c.closeWith(protocol.CodeUnauthorized, "user_data has a repeated key or a case variant of id, user_info or watchlist")
		return
	}
	if err != nil || json.Unmarshal(ud.ID, &id) != nil ||
		!protocol.IsValidUserID(id, app.Limits.PresenceMaxUserIDLength) {
		c.closeWith(protocol.CodeUnauthorized, "user_data must be an object with a valid string id")
		return
	}
	info := []byte("{}")
	if len(ud.UserInfo) > 0 && ud.UserInfo[0] == '{' {
		var buf bytes.Buffer
		if json.Compact(&buf, ud.UserInfo) == nil {
			info = buf.Bytes()
		}
	}
	watchlist, truncated := ud.Watchlist, false
	if !app.Watchlist {
		watchlist = nil
	} else if len(watchlist) > app.Limits.WatchlistMax {
		watchlist, truncated = watchlist[:app.Limits.WatchlistMax], true
	}

	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if c.userID != "" && c.userID != id {
		c.mu.Unlock()
		c.closeWith(protocol.CodeUnauthorized, "Socket is already signed in as another user")
		return
	}
	again := c.userID == id
	old := c.watchlist
	c.userID, c.userInfo, c.watchlist, c.authed = id, info, watchlist, true
	n.index.setUser(app.ID, id, c, old, watchlist)
	n.listenUsers(app.ID, id, !again, watchlist, old)
	c.mu.Unlock()

	ctx := context.Background()
	if !again {
		// The signature is valid, so the sign-in stands locally; a state
		// that cannot record it now gets it from the repair queue.
		first, err := n.state.UserOnline(ctx, app.ID, id, c.socketID)
		if err != nil {
			n.stateFailed("user online", app.ID, err)
			n.repairs.add(signedIn{c})
		}
		if first && app.Watchlist {
			n.publishUserPresence(app.ID, id, true)
		}
	}
	success := append([]byte(`{"event":"pusher:signin_success","data":{"user_data":`), protocol.AppendString(nil, raw)...)
	c.send(textFrame(append(success, "}}"...)))
	if truncated {
		c.sendError(protocol.CodeWatchlistTooLong, "Watchlist is limited to "+strconv.Itoa(app.Limits.WatchlistMax)+" user ids; the rest were ignored")
	}
	if len(watchlist) > 0 {
		n.sendWatchlistState(c, watchlist)
	}
}

// listenUsers has the broker deliver the user-routed controls a signed-in
// socket needs: terminate for its own user (self) and online/offline for
// each watched user; it stops those of the watchlist it replaces. Each
// call is counted by the broker, so every subscribe here is balanced by
// one unsubscribe at sign-out. A failed subscribe leaves the socket
// signed in; the broker re-establishes what it was asked for when it can.
// Caller holds c.mu, so sign-out cannot overtake it.
func (n *Node) listenUsers(app, user string, self bool, watch, unwatch []string) {
	if self {
		if err := n.broker.SubscribeUser(app, user); err != nil {
			n.brokerFailed("subscribe user", app, err)
		}
	}
	for _, w := range watch {
		if err := n.broker.SubscribeUser(app, w); err != nil {
			n.brokerFailed("subscribe user", app, err)
		}
	}
	for _, w := range unwatch {
		if err := n.broker.UnsubscribeUser(app, w); err != nil {
			n.brokerFailed("unsubscribe user", app, err)
		}
	}
}

// sendWatchlistState sends the current online/offline state of the watched
// ids; empty elements are omitted and nothing is sent when both are.
func (n *Node) sendWatchlistState(c *Conn, watchlist []string) {
	online, err := n.state.Online(context.Background(), c.app.ID, watchlist)
	if err != nil {
		// Live online/offline events still come; only the initial state
		// is missing.
		n.stateFailed("watchlist state", c.app.ID, err)
		return
	}
	isOnline := make(map[string]bool, len(online))
	for _, id := range online {
		isOnline[id] = true
	}
	var offline []string
	for _, id := range watchlist {
		if !isOnline[id] {
			offline = append(offline, id)
		}
	}
	var events []watchEvent
	if len(online) > 0 {
		events = append(events, watchEvent{"online", online})
	}
	if len(offline) > 0 {
		events = append(events, watchEvent{"offline", offline})
	}
	if len(events) > 0 {
		c.send(textFrame(watchlistFrame(events)))
	}
}

type watchEvent struct {
	Name    string   `json:"name"`
	UserIDs []string `json:"user_ids"`
}

func watchlistFrame(events []watchEvent) []byte {
	data, _ := json.Marshal(struct {
		Events []watchEvent `json:"events"`
	}{events})
	return protocol.EncodeEvent(&protocol.Event{Name: "pusher_internal:watchlist_events", Data: string(data)})
}

func (n *Node) publishUserPresence(app, user string, online bool) {
	if err := n.broker.Send(context.Background(), broker.UserPresence{App: app, UserID: user, Online: online}); err != nil {
		n.log.Error("user presence publish failed", "app", app, "err", err)
	}
}

// signOut forgets the connection's user when it ends. Caller holds c.mu.
func (n *Node) signOut(c *Conn) {
	app := c.settings()
	n.index.removeUser(app.ID, c.userID, c, c.watchlist)
	n.listenUsers(app.ID, c.userID, false, nil, c.watchlist)
	if err := n.broker.UnsubscribeUser(app.ID, c.userID); err != nil {
		n.brokerFailed("unsubscribe user", app.ID, err)
	}
	last, err := n.state.UserOffline(context.Background(), app.ID, c.userID, c.socketID)
	if err != nil {
		n.stateFailed("user offline", app.ID, err)
		n.repairs.add(signedOut{app.ID, c.userID, c.socketID})
	}
	if last && app.Watchlist {
		n.publishUserPresence(app.ID, c.userID, false)
	}
}
