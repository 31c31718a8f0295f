package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, wrap(err)
}

// SetMetaIfAbsent reads back on the writer connection, so it sees its own
// insert or the one that beat it.
func (s *Store) SetMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", wrap(err)
	}
	var v string
	err := s.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	return v, wrap(err)
}
