package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

func (s *Store) Follow(ctx context.Context, f store.Follow, max int) (store.Follow, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return f, false, wrap(err)
	}
	defer tx.Rollback()
	var created int64
	err = tx.QueryRowContext(ctx, `SELECT created_s FROM follows WHERE app_id = ? AND user_id = ? AND channel = ?`, f.AppID, f.UserID, f.Channel).Scan(&created)
	if err == nil {
		f.CreatedAt = time.Unix(created, 0)
		return f, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return f, false, wrap(err)
	}
	// Counted on the primary key's (app_id, user_id) prefix, and no
	// further than max: the check reads at most max keys of this user.
	var count int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM follows WHERE app_id = ? AND user_id = ? LIMIT ?)`, f.AppID, f.UserID, max).Scan(&count); err != nil {
		return f, false, wrap(err)
	}
	if count >= max {
		return f, false, store.ErrTooManyFollows
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now()
	}
	f.CreatedAt = f.CreatedAt.Truncate(time.Second)
	if _, err := tx.ExecContext(ctx, `INSERT INTO follows (app_id, user_id, channel, created_s) VALUES (?, ?, ?, ?)`, f.AppID, f.UserID, f.Channel, f.CreatedAt.Unix()); err != nil {
		return f, false, wrap(err)
	}
	return f, true, wrap(tx.Commit())
}

func (s *Store) Unfollow(ctx context.Context, appID, userID, channel string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM follows WHERE app_id = ? AND user_id = ? AND channel = ?`, appID, userID, channel)
	if err != nil {
		return false, wrap(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (s *Store) ListFollows(ctx context.Context, appID string, q store.FollowQuery) ([]store.Follow, string, error) {
	after, err := store.ParseFollowCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(q.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, channel, created_s FROM follows
		WHERE app_id = ? AND (? = '' OR user_id = ?) AND (? = '' OR channel = ?) AND (user_id > ? OR (user_id = ? AND channel > ?))
		ORDER BY user_id, channel LIMIT ?`,
		appID, q.UserID, q.UserID, q.Channel, q.Channel, after.UserID, after.UserID, after.Channel, limit+1)
	if err != nil {
		return nil, "", wrap(err)
	}
	defer rows.Close()
	var out []store.Follow
	for rows.Next() {
		f := store.Follow{AppID: appID}
		var created int64
		if err := rows.Scan(&f.UserID, &f.Channel, &created); err != nil {
			return nil, "", wrap(err)
		}
		f.CreatedAt = time.Unix(created, 0)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap(err)
	}
	out, next := store.PageFollows(out, limit)
	return out, next, nil
}

func (s *Store) FollowedBy(ctx context.Context, appID, userID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT channel FROM follows WHERE app_id = ? AND user_id = ? ORDER BY channel`, appID, userID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, wrap(err)
		}
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}
