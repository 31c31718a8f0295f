package hub

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// latestRequest is pushi:latest's data (docs/features.md §7.1). Numbers are raw so
// a wrong type is reported instead of read as zero.
type latestRequest struct {
	Channel json.RawMessage `json:"channel"`
	Skip    json.RawMessage `json:"skip"`
	Since   json.RawMessage `json:"since"`
	Count   json.RawMessage `json:"count"`
}

// optionalCount decodes an absent field as def and refuses anything but a
// non-negative integer.
func optionalCount(raw json.RawMessage, def int64) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, true
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// latest answers pushi:latest (reply pushi_internal:latest) and the legacy
// pusher:latest (reply pusher_internal:latest) with a page of history. Every
// refusal is a pusher:error with code null; the socket stays open.
func (n *Node) latest(c *Conn, f *protocol.Frame, reply string) {
	st := n.opts.Store
	if st == nil {
		c.sendError(0, "History is not available on this server")
		return
	}
	var req latestRequest
	if err := protocol.DecodeData(f.Data, &req); err != nil {
		c.sendError(0, "Invalid "+f.Event+" data: "+err.Error())
		return
	}
	name, ok := optionalString(req.Channel)
	if !ok || name == "" {
		c.sendError(0, f.Event+" requires a string \"channel\"")
		return
	}
	app := c.settings()
	skip, okSkip := optionalCount(req.Skip, 0)
	count, okCount := optionalCount(req.Count, 10)
	since, okSince := optionalCount(req.Since, -1)
	if !okSkip || !okCount || !okSince {
		c.sendError(0, "skip, since and count must be non-negative integers")
		return
	}
	count = min(count, int64(app.Persistence.ReadMax))
	sinceMode := len(req.Since) > 0 && string(req.Since) != "null"

	c.mu.Lock()
	_, held := c.subs[name]
	eligible := held || peerIdentity(c, name) != nil
	personal := held && strings.HasPrefix(name, "personal-")
	c.mu.Unlock()
	if !eligible {
		c.sendError(0, "Not subscribed to "+clip(name, clipLong))
		return
	}
	var (
		events []store.Event
		more   bool
		err    error
		ctx    = context.Background()
	)
	switch {
	case count == 0:
		events = []store.Event{}
	case personal && sinceMode:
		c.sendError(0, "The inbox of a personal channel is read with skip, not since")
		return
	case personal:
		events, more, err = st.Inbox(ctx, app.ID, strings.TrimPrefix(name, "personal-"), store.InboxQuery{Skip: int(skip), Limit: int(count)})
	case sinceMode:
		events, more, err = st.Events(ctx, app.ID, name, store.EventQuery{Forward: true, After: since, Limit: int(count)})
	default:
		events, more, err = st.Events(ctx, app.ID, name, store.EventQuery{Skip: int(skip), Limit: int(count)})
	}
	if err != nil {
		n.log.Error("history read failed", "app", app.ID, "err", err)
		c.sendError(0, "History is unavailable, try again")
		return
	}
	c.send(latestFrame(reply, name, events, more))
}

func latestFrame(event, channel string, events []store.Event, more bool) []byte {
	b := append([]byte(`{"channel":`), protocol.AppendString(nil, channel)...)
	b = append(b, `,"events":[`...)
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStoredEvent(b, &events[i])
	}
	b = append(b, `],"more":`...)
	if more {
		b = append(b, "true}"...)
	} else {
		b = append(b, "false}"...)
	}
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: event, Channel: channel, Data: string(b)}))
}
