// Package state is the cluster-wide ephemeral state: which connections
// hold each channel, presence members with their per-user connections,
// signed-in users, and cache-channel slots. It is lost on a full restart,
// unlike the durable store (internal/store). Memory serves a single node;
// a networked implementation (Redis) satisfies the same State interface
// and passes the same contract suite (statetest).
package state

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Member is one presence user. RawID keeps the JSON type first supplied
// (10 and "10" are the same user, keyed by UserID, docs/protocol.md §7.3).
type Member struct {
	UserID string
	RawID  json.RawMessage
	Info   json.RawMessage
	// Peer, given to Join, opts the connection in to peer channels
	// (docs/features.md §4); pairing is per user, so the state counts the
	// opted-in connections and every result carries PeerConns, the user's
	// count after the call, with Peer = PeerConns > 0.
	Peer      bool
	PeerConns int
}

// Counts describes an occupied channel.
type Counts struct {
	Subscriptions int // connections holding the channel
	Users         int // distinct presence users (presence channels only)
}

// Joined is what a Join changed. Subscriptions is the channel's count
// afterwards, so 1 means this join occupied the channel. On presence
// channels Member is the member as stored (the id type and info of the
// user's first live connection win), FirstMember reports that the user
// was not a member before, and Version numbers the change (see Snapshot).
type Joined struct {
	Subscriptions int
	Member        Member
	FirstMember   bool
	Version       uint64
}

// Left is what a Leave changed; 0 Subscriptions means the channel is now
// vacant, LastMember that the user's last connection left.
type Left struct {
	Subscriptions int
	Member        Member
	LastMember    bool
	Version       uint64
}

// Snapshot is a presence channel's members in join order, with the
// version of the last membership change it reflects. Versions grow with
// every member change of the state (across channels and incarnations of
// a channel), so a member event whose version is at most a snapshot's is
// already in it: a subscriber shown the snapshot drops such events and
// gets every later one.
type Snapshot struct {
	Members []Member
	Version uint64
}

// CachedEvent is the single event kept for a cache channel.
type CachedEvent struct {
	Event   string
	Data    string
	Expires time.Time
}

// ErrFull means the presence channel has reached its member limit.
var ErrFull = errors.New("presence channel is full")

// State is the cluster-wide state. Connection ids are socket ids, unique
// across the cluster. Every method is safe for concurrent use, and each
// change is atomic: a Join or Leave decides its transitions (occupied,
// vacated, first and last member) itself, so whichever node sees them,
// they happen exactly once across the cluster.
type State interface {
	// Join records that conn holds channel. With m non-nil (presence
	// channels) conn also joins as a connection of m.UserID; a new user
	// beyond maxMembers gets ErrFull and nothing is recorded.
	Join(ctx context.Context, app, channel, conn string, m *Member, maxMembers int) (Joined, error)
	// Leave is the inverse of Join; userID is "" when conn joined without
	// a member. Leaving what is not held is a no-op.
	Leave(ctx context.Context, app, channel, conn, userID string) (Left, error)
	// Channel returns the counts of one channel (zero when vacant).
	Channel(ctx context.Context, app, channel string) (Counts, error)
	// Channels lists occupied channels whose name starts with prefix.
	Channels(ctx context.Context, app, prefix string) (map[string]Counts, error)
	// Members reads a presence channel's members.
	Members(ctx context.Context, app, channel string) (Snapshot, error)

	// UserOnline records a signed-in connection; first reports the user's
	// first connection in the cluster.
	UserOnline(ctx context.Context, app, userID, conn string) (first bool, err error)
	// UserOffline removes it; last reports the user's last connection left.
	UserOffline(ctx context.Context, app, userID, conn string) (last bool, err error)
	// Online filters ids to the users currently signed in.
	Online(ctx context.Context, app string, ids []string) ([]string, error)

	// SetCache replaces the cache slot of channel.
	SetCache(ctx context.Context, app, channel string, ev CachedEvent) error
	// Cache returns the unexpired cache slot, if any.
	Cache(ctx context.Context, app, channel string) (CachedEvent, bool, error)
}
