package sqlite

import (
	"context"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// Trim deletes, for one app: events past the age or the per-channel cap,
// inbox rows past the age or the per-user cap, and inbox rows whose event
// is gone. Sequences stay: a seq is never reused. Each step is its own
// statement, so the writer is never held for the whole pass.
func (s *Store) Trim(ctx context.Context, appID string, r store.Retention, now time.Time) (int, error) {
	type step struct {
		query string
		args  []any
	}
	var steps []step
	if r.MaxAge > 0 {
		cutoff := now.Add(-r.MaxAge).UnixMilli()
		steps = append(steps,
			step{`DELETE FROM events WHERE app_id = ? AND ts_ms < ?`, []any{appID, cutoff}},
			step{`DELETE FROM inbox WHERE app_id = ? AND ts_ms < ?`, []any{appID, cutoff}})
	}
	if r.MaxEventsPerChannel > 0 {
		steps = append(steps, step{`DELETE FROM events WHERE rowid IN (SELECT rowid FROM (
			SELECT rowid, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY seq DESC) AS n FROM events WHERE app_id = ?) WHERE n > ?)`,
			[]any{appID, r.MaxEventsPerChannel}})
	}
	steps = append(steps, step{`DELETE FROM inbox WHERE app_id = ? AND NOT EXISTS (SELECT 1 FROM events e WHERE e.mid = inbox.mid)`, []any{appID}})
	if r.InboxMaxPerUser > 0 {
		steps = append(steps, step{`DELETE FROM inbox WHERE id IN (SELECT id FROM (
			SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY mid DESC) AS n FROM inbox WHERE app_id = ?) WHERE n > ?)`,
			[]any{appID, r.InboxMaxPerUser}})
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
