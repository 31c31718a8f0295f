package hub

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// errNoStore is returned when persistence is asked of a node without a store.
var errNoStore = errors.New("persistence needs a store")

// Sender says who an event comes from, for its stored record.
type Sender struct {
	Source   string // "api" or "client"
	SocketID string // the client event's socket; for API triggers the excluded socket
	UserID   string // client events on presence and peer channels
	rawID    []byte // the sender's user id as first supplied (the live frame's user_id)
}

// PublishPersisted stores ev on every channel of chans (one record each,
// docs/features.md §5.2) and broadcasts each record once it is durable. The
// broadcast runs from the store's commit callback, so every channel's
// subscribers see its records in seq order (§5.4). If the store fails
// nothing is delivered and the error is returned.
func (n *Node) PublishPersisted(ctx context.Context, app *apps.App, chans []protocol.Channel, name, data string, from Sender) error {
	st := n.opts.Store
	if st == nil {
		return errNoStore
	}
	names := make([]string, len(chans))
	for i, ch := range chans {
		names[i] = ch.Name
	}
	t := store.Trigger{AppID: app.ID, Channels: names, Event: name, Data: data, Source: from.Source, UserID: from.UserID, Time: time.Now()}
	if from.Source == "client" {
		t.SocketID = from.SocketID
	}
	var pubErr error
	_, err := st.Append(ctx, t, func(records []store.Event) {
		for i := range records {
			ev := protocol.Event{Name: name, Channel: names[i], Data: data, UserID: from.rawID, Extra: storedExtra(&records[i])}
			// Not the request's context: a record that is stored is delivered.
			if err := n.publish(context.Background(), app, chans[i], &ev, from.SocketID, from.Source != "client"); err != nil {
				pubErr = err
			}
		}
	})
	if err != nil {
		n.metrics.storeErrors.Add(1)
	} else {
		n.metrics.persisted.Add(uint64(len(chans)))
	}
	return errors.Join(err, pubErr)
}

// storedExtra is the three members a live frame of a persisted event
// carries beyond the Pusher ones: ,"mid":…,"seq":…,"timestamp":….
func storedExtra(e *store.Event) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `,"mid":`...)
	b = protocol.AppendString(b, e.MID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"timestamp":`...)
	return appendTimestamp(b, e.Timestamp)
}

// appendTimestamp writes Unix seconds with millisecond precision.
func appendTimestamp(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

// persistClientEvent reports whether a client event on ch is stored
// (docs/features.md §5.1: persistence.client_events).
func persistClientEvent(app *apps.App, ch protocol.Channel) bool {
	switch app.Persistence.ClientEvents {
	case "all":
		return true
	case "peer":
		return ch.Kind == protocol.Peer
	}
	return false
}
