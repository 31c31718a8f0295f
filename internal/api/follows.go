package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// Follows (docs/features.md §6): user U follows channel C, named "event" as in the
// original pushi's routes.

func (a *API) followRoutes() {
	a.mux.Handle("/apps/{app_id}/subscribe", a.signed(methods{http.MethodPost: a.follow}))
	a.mux.Handle("/apps/{app_id}/unsubscribe", a.signed(methods{http.MethodPost: a.unfollow}))
	a.mux.Handle("/apps/{app_id}/subscriptions", a.signed(methods{http.MethodGet: a.listFollows}))
}

type followRequest struct {
	UserID  json.RawMessage `json:"user_id"`
	Event   *string         `json:"event"`
	Channel *string         `json:"channel"` // accepted for event
}

type followView struct {
	UserID    string `json:"user_id"`
	Event     string `json:"event"`
	CreatedAt int64  `json:"created_at"`
}

// parseFollow validates a subscribe/unsubscribe body completely before
// anything is stored.
func parseFollow(app *apps.App, body []byte) (userID, channel string, err error) {
	var req followRequest
	if err := decodeBody(body, &req); err != nil {
		return "", "", err
	}
	if userID, err = followUserID(app, req.UserID); err != nil {
		return "", "", err
	}
	switch {
	case req.Event != nil && req.Channel != nil && *req.Event != *req.Channel:
		return "", "", errorf(http.StatusBadRequest, "Give \"event\" or \"channel\", not two different names")
	case req.Event != nil:
		channel = *req.Event
	case req.Channel != nil:
		channel = *req.Channel
	default:
		return "", "", errorf(http.StatusBadRequest, "Missing \"event\" (the channel to follow)")
	}
	if err := checkFollowable(app, channel); err != nil {
		return "", "", err
	}
	return userID, channel, nil
}

// followUserID accepts a string id or an integer, in its decimal form.
func followUserID(app *apps.App, raw json.RawMessage) (string, error) {
	var id string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", errorf(http.StatusBadRequest, "\"user_id\" is not a valid JSON string")
		}
	} else if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		id = string(raw)
	} else {
		return "", errorf(http.StatusBadRequest, "Missing \"user_id\" (a string or an integer)")
	}
	return id, checkUserID(app, id)
}

func checkUserID(app *apps.App, id string) error {
	if max := app.Limits.PresenceMaxUserIDLength; !protocol.IsValidUserID(id, max) {
		return errorf(http.StatusBadRequest, fmt.Sprintf("\"user_id\" must be 1 to %d characters of [A-Za-z0-9_-=@,.;]", max))
	}
	return nil
}

// checkFollowable refuses invalid names and the channels that would make
// follows recurse (personal-, #server-to-user-).
func checkFollowable(app *apps.App, channel string) error {
	ch, err := protocol.ParseChannel(channel, app.Limits.MaxNameLength)
	if err != nil {
		return errorf(http.StatusBadRequest, fmt.Sprintf("Invalid channel %q: %v", truncate(channel, 64), err))
	}
	if ch.Kind == protocol.Personal || ch.Kind == protocol.ServerToUser {
		return errorf(http.StatusBadRequest, "personal- and #server-to-user- channels cannot be followed")
	}
	return nil
}

// checkNotPeer refuses a follow on a peer channel: it belongs to its two
// users, and a follow would let a third read it through personal-<id>
// and write it as the channel's holder. Unfollowing one stays allowed, so
// follows stored before this check can still be removed.
func checkNotPeer(channel string) error {
	if ch, err := protocol.ParseChannel(channel, len(channel)); err == nil && ch.Kind == protocol.Peer {
		return errorf(http.StatusBadRequest, "peer- channels belong to their two users and cannot be followed")
	}
	return nil
}

func (a *API) requireStore() (store.Store, error) {
	if st := a.node.Store(); st != nil {
		return st, nil
	}
	return nil, errorf(http.StatusServiceUnavailable, "This route needs the store, which is not configured")
}

// storeError maps the store's errors to statuses. A follow past
// max_follows_per_user is 400, as docs/features.md §6 lists it with the other
// validation failures: retrying cannot succeed until a follow is removed.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrTooManyFollows):
		return errorf(http.StatusBadRequest, "The user follows max_follows_per_user channels already")
	case errors.Is(err, store.ErrInvalidCursor):
		return errorf(http.StatusBadRequest, "\"cursor\" is not a cursor this listing returned")
	case errors.Is(err, store.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "Store unavailable")
	}
	return err
}

func (a *API) follow(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, body []byte) {
	userID, channel, err := parseFollow(app, body)
	if err == nil {
		err = checkNotPeer(channel)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	st, err := a.requireStore()
	if err != nil {
		writeErr(w, err)
		return
	}
	f, _, err := st.Follow(r.Context(), store.Follow{AppID: app.ID, UserID: userID, Channel: channel, CreatedAt: a.opts.Now()}, app.Limits.MaxFollowsPerUser)
	if err != nil {
		writeErr(w, storeError(err))
		return
	}
	// Announced even when the follow existed: a retry after a failed
	// announcement then still reaches the connected sockets.
	if !a.announceFollow(w, r, app, userID, channel, true) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscription": followView{f.UserID, f.Channel, f.CreatedAt.Unix()}})
}

func (a *API) unfollow(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, body []byte) {
	userID, channel, err := parseFollow(app, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	st, err := a.requireStore()
	if err != nil {
		writeErr(w, err)
		return
	}
	removed, err := st.Unfollow(r.Context(), app.ID, userID, channel)
	if err != nil {
		writeErr(w, storeError(err))
		return
	}
	if !a.announceFollow(w, r, app, userID, channel, false) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": removed})
}

func (a *API) announceFollow(w http.ResponseWriter, r *http.Request, app *apps.App, userID, channel string, added bool) bool {
	if err := a.node.FollowChanged(r.Context(), app, userID, channel, added); err != nil {
		a.opts.Logger.Error("follow announcement failed", "app", app.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "The change is stored but connected sockets could not be told; retry")
		return false
	}
	return true
}

func (a *API) listFollows(w http.ResponseWriter, r *http.Request, app *apps.App, q query, _ []byte) {
	query := store.FollowQuery{UserID: q.get("user_id"), Channel: q.get("event"), Cursor: q.get("cursor")}
	var err error
	if query.Channel == "" {
		query.Channel = q.get("channel")
	}
	if query.UserID != "" {
		if err := checkUserID(app, query.UserID); err != nil {
			writeErr(w, err)
			return
		}
	}
	if query.Channel != "" {
		if _, err := protocol.ParseChannel(query.Channel, app.Limits.MaxNameLength); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid channel %q: %v", truncate(query.Channel, 64), err))
			return
		}
	}
	if query.Limit, err = pageLimit(q, 100); err != nil {
		writeErr(w, err)
		return
	}
	st, err := a.requireStore()
	if err != nil {
		writeErr(w, err)
		return
	}
	page, next, err := st.ListFollows(r.Context(), app.ID, query)
	if err != nil {
		writeErr(w, storeError(err))
		return
	}
	out := make([]followView, len(page))
	for i, f := range page {
		out[i] = followView{f.UserID, f.Channel, f.CreatedAt.Unix()}
	}
	var nextCursor any // null on the last page
	if next != "" {
		nextCursor = next
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out, "next": nextCursor})
}
