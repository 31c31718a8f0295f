package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/hub"
	"github.com/pushi-io/pushi/internal/protocol"
)

// eventRequest is one trigger (an events body or a batch item). Fields are
// raw where presence and type must be told apart.
type eventRequest struct {
	Name     *string         `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  *string         `json:"channel"`
	Channels json.RawMessage `json:"channels"`
	SocketID *string         `json:"socket_id"`
	Info     *string         `json:"info"`
	Persist  *bool           `json:"persist"`
}

// trigger is a validated eventRequest.
type trigger struct {
	name     string
	data     string
	channels []protocol.Channel
	socketID string
	info     []string
	persist  *bool // the body's own persist flag; nil: the app's rules decide
}

func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "Request body is empty")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errorf(http.StatusBadRequest, fmt.Sprintf("Field %q has the wrong type", typeErr.Field))
		}
		return errorf(http.StatusBadRequest, "Malformed JSON body: "+err.Error())
	}
	return nil
}

// validate applies the rules of docs/protocol.md §14.2. allowMany permits the
// "channels" array (events), which batch items do not have.
func (req *eventRequest) validate(app *apps.App, allowMany bool) (*trigger, error) {
	l := app.Limits
	t := &trigger{}
	if req.Name == nil || *req.Name == "" {
		return nil, errorf(http.StatusBadRequest, "Missing event name")
	}
	t.name = *req.Name
	if len(t.name) > l.MaxNameLength {
		return nil, errorf(http.StatusBadRequest, fmt.Sprintf("Event name is longer than %d characters", l.MaxNameLength))
	}
	if protocol.IsReservedEvent(t.name) {
		return nil, errorf(http.StatusBadRequest, "Event names starting with pusher:, pusher_internal:, pushi: or pushi_internal: are reserved")
	}
	data, err := dataString(req.Data)
	if err != nil {
		return nil, err
	}
	if len(data) > l.MaxEventBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("Event data is over %d bytes", l.MaxEventBytes))
	}
	t.data = data
	names, err := channelNames(req, allowMany, l.MaxChannelsPerTrigger)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if seen[name] {
			continue // duplicates are collapsed
		}
		seen[name] = true
		ch, err := protocol.ParseChannel(name, l.MaxNameLength)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, fmt.Sprintf("Invalid channel %q: %v", truncate(name, 64), err))
		}
		t.channels = append(t.channels, ch)
	}
	if req.SocketID != nil {
		if !protocol.IsValidSocketID(*req.SocketID) {
			return nil, errorf(http.StatusBadRequest, "Invalid socket_id")
		}
		t.socketID = *req.SocketID
	}
	if req.Info != nil {
		t.info = splitInfo(*req.Info)
	}
	t.persist = req.Persist
	return t, nil
}

// dataString returns the event data as sent to subscribers: a JSON string's
// content, or any other JSON value's compact text.
func dataString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errorf(http.StatusBadRequest, "Missing event data")
	}
	s, err := protocol.DataText(raw)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "Invalid event data")
	}
	return s, nil
}

func channelNames(req *eventRequest, allowMany bool, max int) ([]string, error) {
	hasList := len(req.Channels) > 0 && string(req.Channels) != "null"
	switch {
	case hasList && !allowMany:
		return nil, errorf(http.StatusBadRequest, "Batch items take \"channel\", not \"channels\"")
	case hasList && req.Channel != nil:
		return nil, errorf(http.StatusBadRequest, "Give either \"channel\" or \"channels\", not both")
	case req.Channel != nil:
		return []string{*req.Channel}, nil
	case !hasList:
		return nil, errorf(http.StatusBadRequest, "Missing \"channel\" or \"channels\"")
	}
	var names []string
	if err := json.Unmarshal(req.Channels, &names); err != nil {
		return nil, errorf(http.StatusBadRequest, "\"channels\" must be an array of strings")
	}
	if len(names) == 0 || len(names) > max {
		return nil, errorf(http.StatusBadRequest, fmt.Sprintf("\"channels\" must hold 1 to %d names", max))
	}
	return names, nil
}

func splitInfo(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func hasInfo(info []string, attr string) bool {
	for _, a := range info {
		if a == attr {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (a *API) triggerEvents(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, body []byte) {
	var req eventRequest
	if err := decodeBody(body, &req); err != nil {
		writeErr(w, err)
		return
	}
	t, err := req.validate(app, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	if ok, wait := a.allow(app, len(t.channels)); !ok {
		retryAfter(w, wait)
		return
	}
	if err := a.publish(r, app, t); err != nil {
		writeErr(w, err)
		return
	}
	if len(t.info) == 0 {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	info, err := a.channelsInfo(r, app, t)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": info})
}

func (a *API) triggerBatch(w http.ResponseWriter, r *http.Request, app *apps.App, _ query, body []byte) {
	var req struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Batch) == 0 || len(req.Batch) > app.Limits.MaxBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("\"batch\" must hold 1 to %d events", app.Limits.MaxBatch))
		return
	}
	// Validate everything first: a bad item publishes nothing.
	triggers := make([]*trigger, len(req.Batch))
	wantInfo := false
	for i := range req.Batch {
		t, err := req.Batch[i].validate(app, false)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				err = errorf(he.status, fmt.Sprintf("batch[%d]: %s", i, he.msg))
			}
			writeErr(w, err)
			return
		}
		triggers[i] = t
		wantInfo = wantInfo || len(t.info) > 0
	}
	if ok, wait := a.allow(app, len(triggers)); !ok {
		retryAfter(w, wait)
		return
	}
	for _, t := range triggers {
		if err := a.publish(r, app, t); err != nil {
			writeErr(w, err)
			return
		}
	}
	if !wantInfo {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	out := make([]map[string]int, len(triggers))
	for i, t := range triggers {
		out[i] = map[string]int{}
		if len(t.info) == 0 {
			continue
		}
		info, err := a.channelsInfo(r, app, t)
		if err != nil {
			writeErr(w, err)
			return
		}
		for _, v := range info {
			out[i] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": out})
}

// triggerLegacy is the deprecated POST /apps/{id}/channels/{c}/events: the
// event name comes from the query and the body is the raw data.
func (a *API) triggerLegacy(w http.ResponseWriter, r *http.Request, app *apps.App, q query, body []byte) {
	name := q.get("name")
	channel := r.PathValue("channel")
	req := eventRequest{Name: &name, Channel: &channel, Data: protocol.AppendString(nil, string(body))}
	if sid, ok := q.lookup("socket_id"); ok {
		req.SocketID = &sid
	}
	t, err := req.validate(app, false)
	if err != nil {
		writeErr(w, err)
		return
	}
	if ok, wait := a.allow(app, 1); !ok {
		retryAfter(w, wait)
		return
	}
	if err := a.publish(r, app, t); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// publish delivers t: channels that are not persisted at once, then the
// persisted ones in one store write (one inbox row per user per trigger),
// delivered once durable. A store failure leaves the first group delivered
// and answers 503 (docs/features.md §5.4).
func (a *API) publish(r *http.Request, app *apps.App, t *trigger) error {
	var stored []protocol.Channel
	for _, ch := range t.channels {
		if app.Persistence.PersistTrigger(ch.Name, t.persist) {
			stored = append(stored, ch)
			continue
		}
		if err := a.node.Publish(r.Context(), app, ch, t.name, t.data, t.socketID); err != nil {
			a.opts.Logger.Error("publish failed", "app", app.ID, "err", err)
			return errorf(http.StatusServiceUnavailable, "Publish failed: "+err.Error())
		}
	}
	if len(stored) == 0 {
		return nil
	}
	if err := a.node.PublishPersisted(r.Context(), app, stored, t.name, t.data, hub.Sender{Source: "api", SocketID: t.socketID}); err != nil {
		a.opts.Logger.Error("persisted publish failed", "app", app.ID, "err", err)
		return errorf(http.StatusServiceUnavailable, "The event could not be stored, so it was not delivered: "+err.Error())
	}
	return nil
}

// channelsInfo reports the requested attributes per channel: user_count on
// presence channels, subscription_count on every channel.
func (a *API) channelsInfo(r *http.Request, app *apps.App, t *trigger) (map[string]map[string]int, error) {
	out := make(map[string]map[string]int, len(t.channels))
	for _, ch := range t.channels {
		counts, err := a.node.State().Channel(r.Context(), app.ID, ch.Name)
		if err != nil {
			return nil, errorf(http.StatusServiceUnavailable, "Channel state unavailable")
		}
		attrs := map[string]int{}
		if hasInfo(t.info, "user_count") && ch.Kind == protocol.Presence {
			attrs["user_count"] = counts.Users
		}
		if hasInfo(t.info, "subscription_count") {
			attrs["subscription_count"] = counts.Subscriptions
		}
		out[ch.Name] = attrs
	}
	return out, nil
}
