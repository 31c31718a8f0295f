package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// SwapMeta replaces a secret without leaving it in the files. A plain
// UPDATE would leave the old row's bytes in the page's free space, which
// goes to the WAL and, at the checkpoint, to the database file:
// secure_delete zeroes them, for this statement only (pushi has no other
// secret it deletes, and it costs writes elsewhere). The WAL still holds
// the page as it was before the swap, and the database file holds it if
// it was checkpointed since: a TRUNCATE checkpoint copies the new page
// over the file's and empties the WAL. No VACUUM is needed, as the page
// is rewritten in place and the row never spilled elsewhere.
func (s *Store) SwapMeta(ctx context.Context, key, old, value string) (bool, error) {
	conn, err := s.w.Conn(ctx) // pragmas are per connection: keep this one
	if err != nil {
		return false, wrap(err)
	}
	defer conn.Close()
	var secure int
	if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&secure); err != nil {
		return false, wrap(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return false, wrap(err)
	}
	res, err := conn.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ? AND value = ?`, value, key, old)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA secure_delete = %d`, secure)); err == nil {
		err = rerr
	}
	if err != nil {
		return false, wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	var busy, frames, copied int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil || busy != 0 {
		// The swap stands; the old value stays in the WAL until a later
		// checkpoint, at the latest when the store closes.
		s.log.Warn("a replaced secret may remain in the store's write-ahead log until the next checkpoint (another process held the database)", "err", err)
	}
	return true, nil
}
