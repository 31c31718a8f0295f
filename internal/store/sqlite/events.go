package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// maxGroup bounds one group commit: large enough that the fsync is shared
// by everything a burst queues, small enough that one transaction never
// holds the writer for long.
const maxGroup = 256

type appendReq struct {
	ctx  context.Context
	t    store.Trigger
	then func([]store.Event)
	out  []store.Event
	err  error
	done chan struct{}
}

var errClosed = errors.New("store: closed")

func (s *Store) Append(ctx context.Context, t store.Trigger, then func([]store.Event)) ([]store.Event, error) {
	if len(t.Channels) == 0 {
		return nil, nil
	}
	req := &appendReq{ctx: ctx, t: t, then: then, done: make(chan struct{})}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, errClosed
	}
	select {
	case s.appends <- req:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	s.closeMu.RUnlock()
	// Once queued, the outcome is waited for even if ctx ends: the caller
	// must know whether the records exist.
	<-req.done
	return req.out, req.err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*appendReq, 0, maxGroup)
	for first := range s.appends {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxGroup {
			select {
			case r, ok := <-s.appends:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitGroup(batch)
	}
}

// commitGroup writes a batch in one transaction. If that fails, each
// trigger is retried alone so one bad trigger cannot fail the others.
func (s *Store) commitGroup(batch []*appendReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if err := s.commit(live); err != nil && len(live) > 1 {
		for _, r := range live {
			s.commit([]*appendReq{r})
		}
		return
	}
}

func (s *Store) commit(reqs []*appendReq) error {
	err := s.writeTx(reqs)
	for _, r := range reqs {
		if err != nil {
			r.out, r.err = nil, err
		} else if r.then != nil {
			r.then(r.out)
		}
	}
	if err == nil || len(reqs) == 1 {
		for _, r := range reqs {
			close(r.done)
		}
	}
	return err
}

func (s *Store) writeTx(reqs []*appendReq) error {
	ctx := context.Background() // a queued trigger is committed whole or not at all
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	for _, r := range reqs {
		out, err := appendOne(ctx, tx, &r.t)
		if err != nil {
			return err
		}
		r.out = out
	}
	return wrap(tx.Commit())
}

func appendOne(ctx context.Context, tx *sql.Tx, t *store.Trigger) ([]store.Event, error) {
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
		err := tx.QueryRowContext(ctx, `INSERT INTO sequences (app_id, channel, last) VALUES (?, ?, 1)
			ON CONFLICT (app_id, channel) DO UPDATE SET last = last + 1 RETURNING last`, t.AppID, ch).Scan(&e.Seq)
		if err != nil {
			return nil, wrap(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (app_id, channel, seq, mid, ts_ms, event, data, source, socket_id, user_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.AppID, ch, e.Seq, e.MID, ts.UnixMilli(), e.Event, e.Data, e.Source, e.SocketID, e.UserID); err != nil {
			return nil, wrap(err)
		}
		users, err := readers(ctx, tx, t.AppID, ch)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if reached[u] {
				continue // one inbox row per user per trigger: the first channel reaching them
			}
			reached[u] = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO inbox (app_id, user_id, mid, channel, seq, ts_ms) VALUES (?, ?, ?, ?, ?, ?)`,
				t.AppID, u, e.MID, ch, e.Seq, ts.UnixMilli()); err != nil {
				return nil, wrap(err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// readers are the users whose inbox an event on channel reaches: its
// followers, and the owner of a personal channel.
func readers(ctx context.Context, tx *sql.Tx, appID, channel string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT user_id FROM follows WHERE app_id = ? AND channel = ? ORDER BY user_id`, appID, channel)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var users []string
	if owner, ok := strings.CutPrefix(channel, "personal-"); ok {
		users = append(users, owner)
	}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, wrap(err)
		}
		users = append(users, u)
	}
	return users, wrap(rows.Err())
}

const eventColumns = `mid, app_id, channel, seq, ts_ms, event, data, source, socket_id, user_id`

func scanEvents(rows *sql.Rows, limit int) ([]store.Event, bool, error) {
	defer rows.Close()
	out := []store.Event{}
	for rows.Next() {
		var e store.Event
		var ts int64
		if err := rows.Scan(&e.MID, &e.AppID, &e.Channel, &e.Seq, &ts, &e.Event, &e.Data, &e.Source, &e.SocketID, &e.UserID); err != nil {
			return nil, false, wrap(err)
		}
		e.Timestamp = time.UnixMilli(ts)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, wrap(err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *Store) Events(ctx context.Context, appID, channel string, q store.EventQuery) ([]store.Event, bool, error) {
	limit := clampLimit(q.Limit)
	var rows *sql.Rows
	var err error
	if q.Forward {
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE app_id = ? AND channel = ? AND seq > ?
			ORDER BY seq LIMIT ? OFFSET ?`, appID, channel, q.After, limit+1, max(q.Skip, 0))
	} else {
		before := q.Before
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE app_id = ? AND channel = ? AND seq < ?
			ORDER BY seq DESC LIMIT ? OFFSET ?`, appID, channel, before, limit+1, max(q.Skip, 0))
	}
	if err != nil {
		return nil, false, wrap(err)
	}
	return scanEvents(rows, limit)
}

// Inbox reads newest first. mids are allocated in commit order, so the
// mid itself is the cursor and stays valid after its row is trimmed.
func (s *Store) Inbox(ctx context.Context, appID, userID string, q store.InboxQuery) ([]store.Event, bool, error) {
	limit := clampLimit(q.Limit)
	before := q.BeforeMID
	if before == "" {
		before = "~" // sorts after every hex mid
	}
	rows, err := s.r.QueryContext(ctx, `SELECT e.mid, e.app_id, e.channel, e.seq, e.ts_ms, e.event, e.data, e.source, e.socket_id, e.user_id
		FROM inbox i JOIN events e ON e.mid = i.mid
		WHERE i.app_id = ? AND i.user_id = ? AND i.mid < ?
		ORDER BY i.mid DESC LIMIT ? OFFSET ?`, appID, userID, before, limit+1, max(q.Skip, 0))
	if err != nil {
		return nil, false, wrap(err)
	}
	return scanEvents(rows, limit)
}

func (s *Store) LastSeq(ctx context.Context, appID, channel string) (int64, error) {
	var last int64
	err := s.r.QueryRowContext(ctx, `SELECT last FROM sequences WHERE app_id = ? AND channel = ?`, appID, channel).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return last, wrap(err)
}

func (s *Store) OldestSeq(ctx context.Context, appID, channel string) (int64, error) {
	var oldest sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT MIN(seq) FROM events WHERE app_id = ? AND channel = ?`, appID, channel).Scan(&oldest)
	return oldest.Int64, wrap(err)
}

// Trim deletes, for one app: events past the age or the per-channel cap,
// inbox rows past the age or the per-user cap, and inbox rows whose event
// is gone. Sequences stay: a seq is never reused.
func (s *Store) Trim(ctx context.Context, appID string, r store.Retention, now time.Time) (int, error) {
	cutoff := now.Add(-r.MaxAge).UnixMilli()
	steps := []struct {
		query string
		args  []any
	}{
		{`DELETE FROM events WHERE app_id = ? AND ts_ms < ?`, []any{appID, cutoff}},
		{`DELETE FROM events WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY seq DESC) AS n
			FROM events WHERE app_id = ?) WHERE n > ?)`, []any{appID, r.MaxEventsPerChannel}},
		{`DELETE FROM inbox WHERE app_id = ? AND (ts_ms < ? OR NOT EXISTS (SELECT 1 FROM events e WHERE e.mid = inbox.mid))`, []any{appID, cutoff}},
		{`DELETE FROM inbox WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id DESC) AS n
			FROM inbox WHERE app_id = ?) WHERE n > ?)`, []any{appID, r.InboxMaxPerUser}},
	}
	removed := 0
	for _, st := range steps {
		res, err := s.w.ExecContext(ctx, st.query, st.args...)
		if err != nil {
			return removed, wrap(err)
		}
		n, _ := res.RowsAffected()
		removed += int(n)
	}
	return removed, nil
}
