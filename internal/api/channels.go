package api

import (
	"net/http"
	"strings"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
)

// listChannels is GET /apps/{id}/channels: occupied channels only. info
// takes user_count (presence- prefixes only) and subscription_count, which
// is served whatever the app's subscription_count switch: the switch
// governs pushes only (docs/protocol.md §13, §14.2).
func (a *API) listChannels(w http.ResponseWriter, r *http.Request, app *apps.App, q query, _ []byte) {
	prefix := q.get("filter_by_prefix")
	info := splitInfo(q.get("info"))
	for _, attr := range info {
		switch attr {
		case "user_count":
			if !strings.HasPrefix(prefix, "presence-") {
				writeError(w, http.StatusBadRequest, "info=user_count requires filter_by_prefix starting with presence-")
				return
			}
		case "subscription_count":
		default:
			writeError(w, http.StatusBadRequest, "Unsupported info attribute "+attr+" (only user_count and subscription_count)")
			return
		}
	}
	users, subs := hasInfo(info, "user_count"), hasInfo(info, "subscription_count")
	chans, err := a.node.State().Channels(r.Context(), app.ID, prefix)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "Channel state unavailable")
		return
	}
	out := make(map[string]map[string]int, len(chans))
	for name, counts := range chans {
		if strings.HasPrefix(name, protocol.ServerToUserPrefix) {
			continue // never listed (docs/protocol.md §7.4)
		}
		attrs := map[string]int{}
		if users {
			attrs["user_count"] = counts.Users
		}
		if subs {
			// Every listed channel, presence included, as on events
			// info: a listing cannot refuse one channel's attribute.
			attrs["subscription_count"] = counts.Subscriptions
		}
		out[name] = attrs
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

func pathChannel(w http.ResponseWriter, r *http.Request, app *apps.App) (protocol.Channel, bool) {
	ch, err := protocol.ParseChannel(r.PathValue("channel"), app.Limits.MaxNameLength)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid channel name: "+err.Error())
		return ch, false
	}
	return ch, true
}

// getChannel is GET /apps/{id}/channels/{channel}.
func (a *API) getChannel(w http.ResponseWriter, r *http.Request, app *apps.App, q query, _ []byte) {
	ch, ok := pathChannel(w, r, app)
	if !ok {
		return
	}
	info := splitInfo(q.get("info"))
	for _, attr := range info {
		switch {
		case attr == "user_count" && ch.Kind != protocol.Presence:
			writeError(w, http.StatusBadRequest, "user_count is only available on presence channels")
			return
		case attr == "subscription_count" && ch.Kind == protocol.Presence:
			writeError(w, http.StatusBadRequest, "subscription_count is not available on presence channels; use user_count")
			return
		case attr == "cache" && !ch.Cache:
			writeError(w, http.StatusBadRequest, "cache is only available on cache channels")
			return
		case attr != "user_count" && attr != "subscription_count" && attr != "cache":
			writeError(w, http.StatusBadRequest, "Unsupported info attribute "+attr)
			return
		}
	}
	state := a.node.State()
	counts, err := state.Channel(r.Context(), app.ID, ch.Name)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "Channel state unavailable")
		return
	}
	out := map[string]any{"occupied": counts.Subscriptions > 0}
	if hasInfo(info, "user_count") {
		out["user_count"] = counts.Users
	}
	if hasInfo(info, "subscription_count") {
		out["subscription_count"] = counts.Subscriptions
	}
	if hasInfo(info, "cache") {
		ev, found, err := state.Cache(r.Context(), app.ID, ch.Name)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "Channel state unavailable")
			return
		}
		if found {
			ttl := int(ev.Expires.Sub(a.opts.Now()).Seconds() + 0.5)
			out["cache"] = map[string]any{"data": ev.Data, "ttl": max(ttl, 0)}
		} else {
			out["cache"] = nil
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// channelUsers is GET /apps/{id}/channels/{channel}/users.
func (a *API) channelUsers(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, _ []byte) {
	ch, ok := pathChannel(w, r, app)
	if !ok {
		return
	}
	if ch.Kind != protocol.Presence {
		writeError(w, http.StatusBadRequest, "Users are only available on presence channels")
		return
	}
	snap, err := a.node.State().Members(r.Context(), app.ID, ch.Name)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "Channel state unavailable")
		return
	}
	users := make([]map[string]string, len(snap.Members))
	for i, m := range snap.Members {
		users[i] = map[string]string{"id": m.UserID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

// terminate is POST /apps/{id}/users/{user_id}/terminate_connections.
func (a *API) terminate(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, _ []byte) {
	user := r.PathValue("user_id")
	if !protocol.IsValidUserID(user, app.Limits.PresenceMaxUserIDLength) {
		writeError(w, http.StatusBadRequest, "Invalid user id")
		return
	}
	if err := a.node.TerminateUser(r.Context(), app, user); err != nil {
		writeError(w, http.StatusServiceUnavailable, "Terminate failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
