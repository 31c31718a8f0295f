package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

const eventColumns = `e.mid, e.app_id, e.channel, e.seq, e.ts_ms, e.event, e.data, e.source, e.socket_id, e.user_id`

// scanEvents reads up to limit records; one more row than limit means
// there is another page.
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
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e WHERE app_id = ? AND channel = ? AND seq > ?
			ORDER BY seq LIMIT ? OFFSET ?`, appID, channel, q.After, limit+1, max(q.Skip, 0))
	} else {
		before := q.Before
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e WHERE app_id = ? AND channel = ? AND seq < ?
			ORDER BY seq DESC LIMIT ? OFFSET ?`, appID, channel, before, limit+1, max(q.Skip, 0))
	}
	if err != nil {
		return nil, false, wrap(err)
	}
	return scanEvents(rows, limit)
}

// Inbox reads newest first. The committer makes mids in commit order (and
// Open seeds the generator past the stored ones), so mid order is inbox
// row order and the mid itself is the cursor: it stays valid after its
// row is trimmed.
func (s *Store) Inbox(ctx context.Context, appID, userID string, q store.InboxQuery) ([]store.Event, bool, error) {
	limit := clampLimit(q.Limit)
	before := q.BeforeMID
	if before == "" {
		before = "~" // sorts after every hex mid
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM inbox i JOIN events e ON e.mid = i.mid
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
