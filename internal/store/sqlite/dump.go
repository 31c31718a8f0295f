package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// dumpPage is the rows read per query while dumping (a var for tests).
var dumpPage = 500

// dumpTables read each table in rowid order; each scan emits one row and
// returns its rowid, where the next page starts. Inbox rowids are its
// autoincrement ids, so rows come out in insertion order.
var dumpTables = []struct {
	query string
	scan  func(*sql.Rows, store.DumpWriter) (int64, error)
}{
	{`SELECT rowid, ` + appColumns + ` FROM apps`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id int64
		a, err := scanApp(rowidScanner{r, &id})
		if err != nil {
			return 0, err
		}
		return id, w.App(a)
	}},
	{`SELECT rowid, key, value FROM meta`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id int64
		var k, v string
		if err := r.Scan(&id, &k, &v); err != nil {
			return 0, err
		}
		return id, w.Meta(k, v)
	}},
	{`SELECT rowid, app_id, user_id, channel, created_s FROM follows`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id, created int64
		var f store.Follow
		if err := r.Scan(&id, &f.AppID, &f.UserID, &f.Channel, &created); err != nil {
			return 0, err
		}
		f.CreatedAt = time.Unix(created, 0)
		return id, w.Follow(f)
	}},
	{`SELECT rowid, app_id, channel, last FROM sequences`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id, last int64
		var app, ch string
		if err := r.Scan(&id, &app, &ch, &last); err != nil {
			return 0, err
		}
		return id, w.Sequence(app, ch, last)
	}},
	{`SELECT rowid, mid, app_id, channel, seq, ts_ms, event, data, source, socket_id, user_id FROM events`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id, ts int64
		var e store.Event
		if err := r.Scan(&id, &e.MID, &e.AppID, &e.Channel, &e.Seq, &ts, &e.Event, &e.Data, &e.Source, &e.SocketID, &e.UserID); err != nil {
			return 0, err
		}
		e.Timestamp = time.UnixMilli(ts)
		return id, w.Event(e)
	}},
	{`SELECT rowid, app_id, user_id, mid, channel, seq, ts_ms FROM inbox`, func(r *sql.Rows, w store.DumpWriter) (int64, error) {
		var id, ts int64
		var in store.InboxRow
		if err := r.Scan(&id, &in.AppID, &in.UserID, &in.MID, &in.Channel, &in.Seq, &ts); err != nil {
			return 0, err
		}
		in.Timestamp = time.UnixMilli(ts)
		return id, w.Inbox(in)
	}},
}

// rowidScanner lets scanApp read a row that starts with its rowid.
type rowidScanner struct {
	r  *sql.Rows
	id *int64
}

func (s rowidScanner) Scan(dest ...any) error { return s.r.Scan(append([]any{s.id}, dest...)...) }

// Dump reads every table in pages inside one read transaction: WAL gives
// it one consistent snapshot even while pushi writes.
func (s *Store) Dump(ctx context.Context, w store.DumpWriter) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	for _, t := range dumpTables {
		for after := int64(-1 << 63); ; {
			rows, err := tx.QueryContext(ctx, t.query+` WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, dumpPage)
			if err != nil {
				return wrap(err)
			}
			n, err := dumpRows(rows, w, t.scan, &after)
			if err != nil {
				return err
			}
			if n < dumpPage {
				break
			}
		}
	}
	return nil
}

func dumpRows(rows *sql.Rows, w store.DumpWriter, scan func(*sql.Rows, store.DumpWriter) (int64, error), after *int64) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		id, err := scan(rows, w)
		if err != nil {
			return n, err // the writer's error, or a scan's: either is the cause
		}
		*after = id
		n++
	}
	return n, wrap(rows.Err())
}
