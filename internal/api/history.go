package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// storedEventView is a record as the REST API shows it (docs/features.md §7.3):
// the client shape plus who sent it.
type storedEventView struct {
	MID       string  `json:"mid"`
	Seq       int64   `json:"seq"`
	Timestamp float64 `json:"timestamp"`
	Channel   string  `json:"channel"`
	Event     string  `json:"event"`
	Data      string  `json:"data"`
	Source    string  `json:"source"`
	SocketID  *string `json:"socket_id"`
	UserID    *string `json:"user_id"`
}

func viewEvents(events []store.Event) []storedEventView {
	out := make([]storedEventView, len(events))
	for i, e := range events {
		out[i] = storedEventView{MID: e.MID, Seq: e.Seq, Timestamp: float64(e.Timestamp.UnixMilli()) / 1000,
			Channel: e.Channel, Event: e.Event, Data: e.Data, Source: e.Source, SocketID: nullable(e.SocketID), UserID: nullable(e.UserID)}
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pageLimit reads ?limit=, 1..1000, def when absent.
func pageLimit(q query, def int) (int, error) {
	s := q.get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, errorf(http.StatusBadRequest, "\"limit\" must be an integer from 1 to 1000")
	}
	return n, nil
}

// seqParam reads an optional non-negative seq cursor.
func seqParam(q query, name string) (int64, bool, error) {
	s := q.get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, errorf(http.StatusBadRequest, fmt.Sprintf("%q must be a non-negative integer seq", name))
	}
	return n, true, nil
}

// channelHistory is GET /apps/{app_id}/channels/{channel}/events.
func (a *API) channelHistory(w http.ResponseWriter, r *http.Request, app *apps.App, q query, _ []byte) {
	channel := r.PathValue("channel")
	if _, err := protocol.ParseChannel(channel, app.Limits.MaxNameLength); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid channel %q: %v", truncate(channel, 64), err))
		return
	}
	limit, err := pageLimit(q, 50)
	if err != nil {
		writeErr(w, err)
		return
	}
	before, hasBefore, err := seqParam(q, "before")
	if err != nil {
		writeErr(w, err)
		return
	}
	after, hasAfter, err := seqParam(q, "after")
	if err != nil {
		writeErr(w, err)
		return
	}
	if hasBefore && hasAfter {
		writeError(w, http.StatusBadRequest, "Give \"before\" or \"after\", not both")
		return
	}
	st, err := a.requireStore()
	if err != nil {
		writeErr(w, err)
		return
	}
	query := store.EventQuery{Limit: limit, Before: before, Forward: hasAfter, After: after}
	if hasBefore && before == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"events": []storedEventView{}, "more": false}) // nothing precedes seq 0
		return
	}
	events, more, err := st.Events(r.Context(), app.ID, channel, query)
	if err != nil {
		writeErr(w, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": viewEvents(events), "more": more})
}

// userInbox is GET /apps/{app_id}/users/{user_id}/events.
func (a *API) userInbox(w http.ResponseWriter, r *http.Request, app *apps.App, q query, _ []byte) {
	userID := r.PathValue("user_id")
	if err := checkUserID(app, userID); err != nil {
		writeErr(w, err)
		return
	}
	limit, err := pageLimit(q, 50)
	if err != nil {
		writeErr(w, err)
		return
	}
	before := q.get("before")
	if before != "" && !isMID(before) {
		writeError(w, http.StatusBadRequest, "\"before\" must be the mid of an inbox entry")
		return
	}
	st, err := a.requireStore()
	if err != nil {
		writeErr(w, err)
		return
	}
	events, more, err := st.Inbox(r.Context(), app.ID, userID, store.InboxQuery{BeforeMID: before, Limit: limit})
	if err != nil {
		writeErr(w, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": viewEvents(events), "more": more})
}

// isMID reports whether s has the canonical lowercase UUID form mids are
// made in, so a garbage cursor is refused rather than compared as text.
func isMID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
