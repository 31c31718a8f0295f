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
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/pushi-io/pushi/internal/store"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Store is the SQLite backend.
type Store struct {
	log     *slog.Logger
	w       *sql.DB // the one writer connection
	r       *sql.DB // readers: WAL lets them run beside the writer
	stmts   *appendStmts
	commits *store.GroupCommitter

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// readers is the read pool's size: WAL readers never wait for the writer.
const readers = 4

// Options tune OpenWith. The zero value is the default.
type Options struct {
	// Logger receives warnings (files found readable by others); nil is
	// slog.Default().
	Logger *slog.Logger
}

// Open opens the store with the default Options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if needed) the database file at path, with its
// directory, owner-only (files.go), and migrates its schema.
func OpenWith(path string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := prepareFiles(path, o.Logger); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	var maxMID sql.NullString
	if err := w.QueryRow(`SELECT MAX(mid) FROM events`).Scan(&maxMID); err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	store.SeedMID(maxMID.String)
	stmts, err := prepareAppend(w)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, "query_only(ON)"))
	if err != nil {
		stmts.close()
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s := &Store{log: o.Logger, w: w, r: r, stmts: stmts}
	s.commits = store.NewGroupCommitter(s.writeTx, nil)
	return s, nil
}

// dsn sets the pragmas on every connection the pool opens. synchronous=FULL
// in WAL mode fsyncs the WAL at each commit: a returned write survives a
// power loss, not only a crash.
func dsn(path, extra string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	if extra != "" {
		q.Add("_pragma", extra)
	}
	// The path is percent-encoded so a '?' or '#' in it is not a URI part.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Ping checks both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return wrap(err)
	}
	return wrap(s.r.PingContext(ctx))
}

// Close lets the committer finish what is queued, then closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.commits.Close()
		s.closeErr = errors.Join(s.stmts.close(), s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// wrap maps driver errors to the store's: constraint violations to
// ErrConflict, everything else that is not a caller's context to
// ErrUnavailable (busy, I/O, full disk, closed).
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

// clampLimit keeps page sizes within 1..1000 whatever the caller asks.
func clampLimit(n int) int {
	return min(max(n, 1), 1000)
}
