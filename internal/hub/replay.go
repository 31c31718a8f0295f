package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// History on subscribe (docs/features.md §7.2). A subscribe carrying "since" or
// "history" gets the selected records after subscription_succeeded, then
// pushi_internal:replay_done. Live events of the channel for that socket
// are held from the moment it joins the hub until the replay is queued,
// then released without those already replayed: nothing lost, nothing
// doubled.

// replayRequest is a validated since/history choice.
type replayRequest struct {
	since     int64 // since mode: records with seq > since
	history   int   // history mode: the newest history records
	sinceMode bool
	// Set once the socket joined: the subscription whose hold the replay
	// releases, and what the answer before it covered.
	ch      protocol.Channel
	sub     *subscription
	members uint64 // the member snapshot's version
}

// parseReplay reads the optional since/history fields; since wins when
// both are present. nil means no replay was asked for.
func parseReplay(readMax int, since, history json.RawMessage) (*replayRequest, *subError) {
	present := func(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
	switch {
	case present(since):
		var v int64
		if err := json.Unmarshal(since, &v); err != nil || v < 0 {
			return nil, invalidData("\"since\" must be an integer >= 0")
		}
		return &replayRequest{since: v, sinceMode: true}, nil
	case present(history):
		var v int
		if err := json.Unmarshal(history, &v); err != nil || v < 1 || v > readMax {
			return nil, invalidData("\"history\" must be an integer from 1 to " + strconv.Itoa(readMax))
		}
		return &replayRequest{history: v}, nil
	}
	return nil, nil
}

var seqKey = []byte(`,"seq":`)

// frameSeq finds the seq of a persisted event's frame. Inside JSON strings
// a quote is always escaped, so the last unescaped ,"seq": is top-level.
func frameSeq(frame []byte) (int64, bool) {
	i := bytes.LastIndex(frame, seqKey)
	if i < 0 {
		return 0, false
	}
	rest := frame[i+len(seqKey):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	seq, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return seq, err == nil
}

// replay sends the selected records and replay_done, then releases the
// held live frames. It runs with no lock held: it reads the store.
func (n *Node) replay(c *Conn, r *replayRequest) {
	ch, sub := r.ch, r.sub
	app := c.settings()
	ctx := context.Background()
	var (
		records []store.Event
		more    bool
		err     error
	)
	complete := true
	if st := n.opts.Store; st == nil {
		err = errNoStore
	} else if r.sinceMode {
		records, more, err = st.Events(ctx, app.ID, ch.Name, store.EventQuery{Forward: true, After: r.since, Limit: app.Persistence.ReadMax})
		if err == nil && !more {
			// Records between since and the oldest retained one were trimmed.
			// If that cannot be told, the replay still goes out, marked
			// incomplete so the client pages on with pushi:latest.
			oldest, oerr := st.OldestSeq(ctx, app.ID, ch.Name)
			if oerr != nil {
				n.log.Error("replay oldest seq failed", "app", app.ID, "err", oerr)
			}
			if oerr != nil || oldest > r.since+1 {
				complete = false
			}
		}
	} else {
		records, more, err = st.Events(ctx, app.ID, ch.Name, store.EventQuery{Limit: r.history})
		for i, j := 0, len(records)-1; i < j; i, j = i+1, j-1 {
			records[i], records[j] = records[j], records[i]
		}
	}
	if err != nil {
		n.log.Error("replay read failed", "app", app.ID, "err", err)
		c.sendError(0, "History for "+clip(ch.Name, clipLong)+" is unavailable; live events follow")
		records, complete = nil, false
	}
	complete = complete && !more
	lastSeq := r.since
	for i := range records {
		e := &records[i]
		ev := protocol.Event{Name: e.Event, Channel: ch.Name, Data: e.Data, Extra: storedExtra(e)}
		if e.UserID != "" {
			ev.UserID = protocol.AppendString(nil, e.UserID)
		}
		c.send(textFrame(protocol.EncodeEvent(&ev)))
		lastSeq = e.Seq
	}
	c.send(replayDoneFrame(ch.Name, len(records), lastSeq, complete))
	if h := sub.hold.Load(); h != nil {
		h.release(sub, skip{memberVersion: r.members, seq: lastSeq, replayed: true})
	}
}

func replayDoneFrame(channel string, count int, lastSeq int64, complete bool) []byte {
	b := append([]byte(`{"channel":`), protocol.AppendString(nil, channel)...)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendInt(b, lastSeq, 10)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, complete)
	b = append(b, '}')
	return textFrame(protocol.EncodeEvent(&protocol.Event{Name: "pushi_internal:replay_done", Channel: channel, Data: string(b)}))
}
