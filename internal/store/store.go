// Package store is pushi's durable state: apps, follows (user → channel),
// persisted events with per-channel sequences, and per-user inbox rows.
// Every backend implements Store and must pass the contract suite in
// store/storetest; SQLite (store/sqlite) is the embedded default.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// Errors every backend reports the same way, so callers map them to HTTP
// statuses without knowing the backend.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrConflict       = errors.New("store: conflict") // unique id, key or name taken
	ErrTooManyFollows = errors.New("store: follow limit reached")
	ErrUnavailable    = errors.New("store: unavailable") // wraps backend outages: answer 503
	ErrInvalidCursor  = errors.New("store: invalid cursor")
)

// Event is one persisted record (docs/features.md §5.2).
type Event struct {
	MID       string    // UUIDv7, unique per record, time-ordered
	AppID     string    //
	Channel   string    //
	Seq       int64     // per (app, channel), strictly increasing from 1, never reused
	Timestamp time.Time // server clock at acceptance, millisecond precision
	Event     string    // event name
	Data      string    // data exactly as delivered
	Source    string    // "api" or "client"
	SocketID  string    // sender of a client event, else ""
	UserID    string    // sender's user on presence/peer client events, else ""
}

// Trigger is one accepted event to persist on one or more channels: one
// record per channel, in Channels order, each with its own mid and seq.
type Trigger struct {
	AppID    string
	Channels []string
	Event    string
	Data     string
	Source   string // "api" or "client"
	SocketID string
	UserID   string
	Time     time.Time
}

// Follow is user → channel (docs/features.md §6).
type Follow struct {
	AppID     string
	UserID    string
	Channel   string
	CreatedAt time.Time // second precision
}

// FollowQuery filters ListFollows; empty fields match everything.
type FollowQuery struct {
	UserID  string
	Channel string
	Limit   int    // 1..1000
	Cursor  string // opaque, from the previous page's next
}

// EventQuery selects a channel's history. Backward (the default) reads
// newest first: seq < Before (0: from the newest), skipping Skip records.
// Forward reads oldest first: seq > After.
type EventQuery struct {
	Forward bool
	Before  int64
	After   int64
	Skip    int
	Limit   int
}

// InboxQuery selects a user's inbox, newest first.
type InboxQuery struct {
	BeforeMID string // exclusive; "" from the newest
	Skip      int
	Limit     int
}

// Retention are one app's caps (docs/features.md §5.5). A zero field is no cap,
// so a zero Retention trims nothing but inbox rows of vanished events.
type Retention struct {
	MaxEventsPerChannel int
	MaxAge              time.Duration
	InboxMaxPerUser     int
}

// StoredApp is an app as kept in the store, with what the API must not
// show but must keep (previous secret) and where it came from.
type StoredApp struct {
	App                apps.App
	PreviousSecret     string
	PreviousValidUntil time.Time
	FromConfig         bool // declared in the config: read-only through the API
}

// Store is the durable state. Implementations are safe for concurrent use.
type Store interface {
	// Apps. CreateApp fails with ErrConflict on a taken id, key or name.
	CreateApp(ctx context.Context, a StoredApp) error
	// PutApp inserts or replaces by id (config apps at start, updates).
	PutApp(ctx context.Context, a StoredApp) error
	App(ctx context.Context, id string) (StoredApp, error)
	// ListApps returns apps ordered by id, after the id cursor ("" first).
	ListApps(ctx context.Context, after string, limit int) ([]StoredApp, error)
	// DeleteApp removes the app and everything of it: events, sequences,
	// inbox rows, follows. ErrNotFound when absent.
	DeleteApp(ctx context.Context, id string) error

	// Meta is a small key/value table for server-wide settings (the hash
	// of the generated admin token). SetMetaIfAbsent returns the value now
	// stored, so concurrent first starts agree on one.
	Meta(ctx context.Context, key string) (string, bool, error)
	SetMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	// SwapMeta replaces key's value with value if it is still old, and
	// reports whether it did. It is for replacing a secret: a backend that
	// controls its files leaves no copy of old in them (the SQLite store
	// zeroes the old row and checkpoints its WAL).
	SwapMeta(ctx context.Context, key, old, value string) (swapped bool, err error)

	// Follow is idempotent: created reports whether the row is new. A new
	// follow past max for the user fails with ErrTooManyFollows.
	Follow(ctx context.Context, f Follow, max int) (stored Follow, created bool, err error)
	Unfollow(ctx context.Context, appID, userID, channel string) (removed bool, err error)
	ListFollows(ctx context.Context, appID string, q FollowQuery) (page []Follow, next string, err error)
	// FollowedBy lists the channels user follows, byte-order sorted.
	FollowedBy(ctx context.Context, appID, userID string) ([]string, error)

	// Append persists t durably: one record per channel with a freshly
	// allocated seq, plus one inbox row per user who follows one of the
	// channels (the first in Channels order) or owns it as personal-<user>.
	// The records are returned in Channels order. then, if not nil, runs
	// after the commit and before Append returns, in commit order for each
	// channel: callers broadcast from it so subscribers see seq order.
	// Concurrent Appends may be committed together (group commit). If ctx
	// ends before the backend starts writing t, Append returns ctx.Err()
	// and nothing is stored; once writing started it waits for the outcome.
	Append(ctx context.Context, t Trigger, then func([]Event)) ([]Event, error)
	Events(ctx context.Context, appID, channel string, q EventQuery) (events []Event, more bool, err error)
	// LastSeq is the channel's highest allocated seq (0 when none).
	LastSeq(ctx context.Context, appID, channel string) (int64, error)
	// OldestSeq is the lowest retained seq (0 when none is retained).
	OldestSeq(ctx context.Context, appID, channel string) (int64, error)
	Inbox(ctx context.Context, appID, userID string, q InboxQuery) (events []Event, more bool, err error)

	// Trim enforces r for one app at now; it returns how many event and
	// inbox rows it removed. Reads may briefly exceed the caps.
	Trim(ctx context.Context, appID string, r Retention, now time.Time) (removed int, err error)

	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
