package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// insertApp takes appRow's values.
const insertApp = `INSERT INTO apps (id, key, name, body, prev_secret, prev_valid_until_ms, from_config) VALUES (?, ?, ?, ?, ?, ?, ?)`

func (s *Store) CreateApp(ctx context.Context, a store.StoredApp) error {
	return s.writeApp(ctx, insertApp, a)
}

func (s *Store) PutApp(ctx context.Context, a store.StoredApp) error {
	return s.writeApp(ctx, insertApp+`
		ON CONFLICT (id) DO UPDATE SET key = excluded.key, name = excluded.name, body = excluded.body,
		prev_secret = excluded.prev_secret, prev_valid_until_ms = excluded.prev_valid_until_ms, from_config = excluded.from_config`, a)
}

func (s *Store) writeApp(ctx context.Context, query string, a store.StoredApp) error {
	args, err := appRow(a)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, query, args...)
	return wrap(err)
}

// appRow is an app as the apps table's columns (id, key, name, body,
// prev_secret, prev_valid_until_ms, from_config), for every writer.
func appRow(a store.StoredApp) ([]any, error) {
	body, err := json.Marshal(a.App)
	if err != nil {
		return nil, err
	}
	var until int64
	if !a.PreviousValidUntil.IsZero() {
		until = a.PreviousValidUntil.UnixMilli()
	}
	return []any{a.App.ID, a.App.Key, a.App.Name, string(body), a.PreviousSecret, until, a.FromConfig}, nil
}

const appColumns = `body, prev_secret, prev_valid_until_ms, from_config`

func scanApp(row interface{ Scan(...any) error }) (store.StoredApp, error) {
	var (
		body, prev string
		until      int64
		fromConfig bool
		a          store.StoredApp
	)
	if err := row.Scan(&body, &prev, &until, &fromConfig); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(body), &a.App); err != nil {
		return a, err
	}
	a.PreviousSecret, a.FromConfig = prev, fromConfig
	if until != 0 {
		a.PreviousValidUntil = time.UnixMilli(until)
	}
	return a, nil
}

func (s *Store) App(ctx context.Context, id string) (store.StoredApp, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id = ?`, id))
	return a, wrap(err)
}

func (s *Store) ListApps(ctx context.Context, after string, limit int) ([]store.StoredApp, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id > ? ORDER BY id LIMIT ?`, after, clampLimit(limit))
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.StoredApp
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, a)
	}
	return out, wrap(rows.Err())
}

// DeleteApp removes the app with everything it owns in one transaction,
// sequences included: a recreated app with the same id starts at seq 1,
// and no record of the old app can be read by it.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	for _, table := range []string{"follows", "sequences", "events", "inbox"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE app_id = ?`, id); err != nil {
			return wrap(err)
		}
	}
	return wrap(tx.Commit())
}
