package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// appendOne writes one trigger with st, bound to the group's transaction:
// per channel, in order, the next seq, the record, and an inbox row for
// each user it is the first channel of this trigger to reach.
func appendOne(ctx context.Context, st *appendStmts, t *store.Trigger) ([]store.Event, error) {
	now := t.Time
	if now.IsZero() {
		now = time.Now()
	}
	ts := now.Truncate(time.Millisecond)
	out := make([]store.Event, 0, len(t.Channels))
	reached := map[string]bool{}
	for _, ch := range t.Channels {
		e := store.Event{MID: store.NewMID(ts), AppID: t.AppID, Channel: ch, Timestamp: ts, Event: t.Event, Data: t.Data,
			Source: t.Source, SocketID: t.SocketID, UserID: t.UserID}
		err := st.nextSeq.QueryRowContext(ctx, t.AppID, ch).Scan(&e.Seq)
		if err != nil {
			return nil, wrap(err)
		}
		if _, err := st.insertEvent.ExecContext(ctx, t.AppID, ch, e.Seq, e.MID, ts.UnixMilli(), e.Event, e.Data, e.Source, e.SocketID, e.UserID); err != nil {
			return nil, wrap(err)
		}
		users, err := inboxUsers(ctx, st, t.AppID, ch)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if reached[u] {
				continue
			}
			reached[u] = true
			if _, err := st.insertInbox.ExecContext(ctx, t.AppID, u, e.MID, ch, e.Seq, ts.UnixMilli()); err != nil {
				return nil, wrap(err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// inboxUsers are the users whose inbox an event on channel reaches: the
// owner of a personal channel, and its followers.
func inboxUsers(ctx context.Context, st *appendStmts, appID, channel string) ([]string, error) {
	var users []string
	if owner, ok := strings.CutPrefix(channel, "personal-"); ok {
		users = append(users, owner)
	}
	rows, err := st.followers.QueryContext(ctx, appID, channel)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, wrap(err)
		}
		users = append(users, u)
	}
	return users, wrap(rows.Err())
}
