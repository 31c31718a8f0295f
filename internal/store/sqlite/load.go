package sqlite

import (
	"context"
	"database/sql"

	"github.com/pushi-io/pushi/internal/store"
)

// Empty reports whether no table holds a row.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var found bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM apps) OR EXISTS (SELECT 1 FROM meta) OR EXISTS (SELECT 1 FROM follows)
		OR EXISTS (SELECT 1 FROM sequences) OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM inbox)`).Scan(&found)
	return !found, wrap(err)
}

// Load writes everything in one transaction on the writer connection: a
// failed load leaves the file as it was, so the copy can simply be rerun.
func (s *Store) Load(ctx context.Context, fill func(store.DumpWriter) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	l := &loader{ctx: ctx, tx: tx}
	if err := fill(l); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap(err)
	}
	// New records of this process must sort after the loaded ones.
	store.SeedMID(l.maxMID)
	return nil
}

type loader struct {
	ctx    context.Context
	tx     *sql.Tx
	maxMID string
}

func (l *loader) exec(query string, args ...any) error {
	_, err := l.tx.ExecContext(l.ctx, query, args...)
	return wrap(err)
}

func (l *loader) App(a store.StoredApp) error {
	args, err := appRow(a)
	if err != nil {
		return err
	}
	return l.exec(insertApp, args...)
}

func (l *loader) Meta(key, value string) error {
	return l.exec(`INSERT INTO meta (key, value) VALUES (?, ?)`, key, value)
}

func (l *loader) Follow(f store.Follow) error {
	return l.exec(`INSERT INTO follows (app_id, user_id, channel, created_s) VALUES (?, ?, ?, ?)`, f.AppID, f.UserID, f.Channel, f.CreatedAt.Unix())
}

func (l *loader) Sequence(appID, channel string, last int64) error {
	return l.exec(`INSERT INTO sequences (app_id, channel, last) VALUES (?, ?, ?)`, appID, channel, last)
}

func (l *loader) Event(e store.Event) error {
	l.maxMID = max(l.maxMID, e.MID)
	return l.exec(`INSERT INTO events (app_id, channel, seq, mid, ts_ms, event, data, source, socket_id, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.AppID, e.Channel, e.Seq, e.MID, e.Timestamp.UnixMilli(), e.Event, e.Data, e.Source, e.SocketID, e.UserID)
}

func (l *loader) Inbox(r store.InboxRow) error {
	return l.exec(`INSERT INTO inbox (app_id, user_id, mid, channel, seq, ts_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		r.AppID, r.UserID, r.MID, r.Channel, r.Seq, r.Timestamp.UnixMilli())
}
