// Package mongo is the MongoDB Store, for several pushi nodes sharing one
// database. It needs no multi-document transaction: seqs come from one
// atomic $inc upsert per channel and group, the unique (app_id, channel,
// seq) index refuses a seq stored twice, records are written before their
// inbox rows and carry inbox_done=false until the rows are in (docs/features.md
// §5.4), and unique indexes arbitrate every other race (app key and name,
// follows and the follow limit, meta). Each Store commits through one
// goroutine, so then-callbacks run in seq order per channel for the
// appends of that node; nodes broadcast their own appends.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Options tune Open. The zero value is the production setting.
type Options struct {
	// Timeout bounds every operation, so an unreachable server answers
	// ErrUnavailable instead of hanging. Default 5 s.
	Timeout time.Duration
	// NoJournal writes with the server's default write concern instead of
	// majority+journal, for servers that reject that: a returned write is
	// then not known to survive a failover or a crash.
	NoJournal bool
}

// Store is the MongoDB backend.
type Store struct {
	client  *mongo.Client
	db      *mongo.Database
	timeout time.Duration

	apps, meta, follows, sequences, events, inbox *mongo.Collection

	commits *store.GroupCommitter

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open connects with the default Options.
func Open(ctx context.Context, uri, dbName string) (*Store, error) {
	return OpenWith(ctx, uri, dbName, Options{})
}

// OpenWith connects to uri, creates dbName's collections and indexes if
// missing, completes the inbox rows a crash left unwritten, and starts the
// committer.
func OpenWith(ctx context.Context, uri, dbName string, o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	co := options.Client().ApplyURI(uri).SetTimeout(o.Timeout).SetServerSelectionTimeout(o.Timeout).SetConnectTimeout(o.Timeout)
	client, err := mongo.Connect(co) // does not dial: an error here is the URI's
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	dbo := options.Database()
	if !o.NoJournal {
		journal := true
		dbo.SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: &journal})
	}
	db := client.Database(dbName, dbo)
	s := &Store{
		client: client, db: db, timeout: o.Timeout,
		apps: db.Collection("apps"), meta: db.Collection("meta"), follows: db.Collection("follows"),
		sequences: db.Collection("sequences"),
		events:    db.Collection("events"), inbox: db.Collection("inbox"),
	}
	if err := s.setup(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("store %s: %w", dbName, err)
	}
	s.commits = store.NewGroupCommitter(s.write, isUnreachable)
	return s, nil
}

// setup makes the schema, seeds the mid generator and sweeps pending inbox
// rows; each step is idempotent, so nodes may start together.
func (s *Store) setup(ctx context.Context) error {
	if err := s.createSchema(ctx); err != nil {
		return err
	}
	if err := s.seedMID(ctx); err != nil {
		return err
	}
	return s.sweepInbox(ctx)
}

// Ping checks that a server is reachable and answering.
func (s *Store) Ping(ctx context.Context) error {
	c, cancel := s.op(ctx)
	defer cancel()
	return s.wrap(ctx, s.client.Ping(c, nil))
}

// Close lets the committer finish what is queued, then disconnects.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.commits.Close()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		s.closeErr = s.client.Disconnect(ctx)
	})
	return s.closeErr
}

// op bounds one operation by the store's timeout, within the caller's.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// wrap maps driver errors to the store's. ctx is the caller's: its own
// end is returned as is, while the store's timeout, network and server
// errors are outages (ErrUnavailable).
func (s *Store) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.ErrNotFound
	}
	if isDuplicate(err) {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

// errUnreachable marks the outages that concern every operation alike (no
// connection, timeouts), as against an error of one write: the committer
// then fails its whole queue at once instead of retrying trigger by
// trigger, each retry waiting out the timeout again.
var errUnreachable = fmt.Errorf("%w", store.ErrUnavailable)

func isUnreachable(err error) bool { return errors.Is(err, errUnreachable) }

// isDuplicate reports a unique index violation. FerretDB (the test server)
// reports one from an update or replace as an InternalError naming the
// SQLite constraint, not as code 11000.
func isDuplicate(err error) bool {
	var se mongo.ServerError
	return mongo.IsDuplicateKeyError(err) || errors.As(err, &se) && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// clampLimit keeps page sizes within 1..1000 whatever the caller asks.
func clampLimit(n int) int {
	return min(max(n, 1), 1000)
}
