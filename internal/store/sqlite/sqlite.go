// Package sqlite is the embedded default Store: one SQLite file in WAL
// mode with synchronous=FULL, so a returned write is on disk. Writes go
// through one connection; concurrent Appends are group-committed by a
// single committer goroutine (one fsync for many triggers).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pushi-io/pushi/internal/store"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Store is the SQLite backend.
type Store struct {
	w       *sql.DB // the one writer connection
	r       *sql.DB // readers: WAL lets them run beside the writer
	appends chan *appendReq
	done    chan struct{}
	// closeMu keeps Append from sending on the queue while Close closes it.
	closeMu sync.RWMutex
	closed  bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and migrates
// its schema.
func Open(path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store directory %s: %w", dir, err)
		}
	}
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
			q.Add("_pragma", p)
		}
		if extra != "" {
			q.Add("_pragma", extra)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("query_only(ON)"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, appends: make(chan *appendReq, 1024), done: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// migrations run in order; PRAGMA user_version records how many ran.
var migrations = []string{`
CREATE TABLE apps (
	id TEXT PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL UNIQUE,
	body TEXT NOT NULL,
	prev_secret TEXT NOT NULL DEFAULT '',
	prev_valid_until_ms INTEGER NOT NULL DEFAULT 0,
	from_config INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE follows (
	app_id TEXT NOT NULL, user_id TEXT NOT NULL, channel TEXT NOT NULL, created_s INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, channel)
);
CREATE INDEX follows_by_channel ON follows (app_id, channel, user_id);
CREATE TABLE sequences (app_id TEXT NOT NULL, channel TEXT NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (app_id, channel));
CREATE TABLE events (
	app_id TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
	mid TEXT NOT NULL UNIQUE, ts_ms INTEGER NOT NULL,
	event TEXT NOT NULL, data TEXT NOT NULL, source TEXT NOT NULL,
	socket_id TEXT NOT NULL, user_id TEXT NOT NULL,
	PRIMARY KEY (app_id, channel, seq)
);
CREATE INDEX events_by_age ON events (app_id, ts_ms);
CREATE TABLE inbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id TEXT NOT NULL, user_id TEXT NOT NULL, mid TEXT NOT NULL,
	channel TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL
);
CREATE INDEX inbox_by_user ON inbox (app_id, user_id, id);
CREATE INDEX inbox_by_mid ON inbox (mid);
`}

func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	for i := version; i < len(migrations); i++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Ping checks both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return wrap(err)
	}
	return wrap(s.r.PingContext(ctx))
}

// Close stops the committer after what is queued and closes the file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.appends)
	s.closeMu.Unlock()
	<-s.done
	return errors.Join(s.r.Close(), s.w.Close())
}

// wrap maps driver errors to the store's: constraint violations to
// ErrConflict, everything else that is not a caller's context to
// ErrUnavailable.
func wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3lib.SQLITE_CONSTRAINT {
		return fmt.Errorf("%w: %s", store.ErrConflict, constraintName(se.Error()))
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

func constraintName(msg string) string {
	if i := strings.LastIndex(msg, "failed: "); i >= 0 {
		return msg[i+len("failed: "):]
	}
	return msg
}
