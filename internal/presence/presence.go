// Package presence keeps the state that must be cluster-wide: which
// connections hold each channel, presence members with per-user connection
// counts, signed-in users, and cache-channel slots. The memory
// implementation serves a single node; a Redis one implements the same
// interface for a cluster.
package presence

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
	// Peer, given to AddMember, opts the connection in to peer channels
	// (docs/features.md §4); pairing is per user, so the store counts the opted-in
	// connections and every result carries PeerConns, the user's count
	// after the call, with Peer = PeerConns > 0.
	Peer      bool
	PeerConns int
}

// Counts describes an occupied channel.
type Counts struct {
	Subscriptions int // connections holding the channel
	Users         int // distinct presence users (presence channels only)
}

// CachedEvent is the single event kept for a cache channel.
type CachedEvent struct {
	Event   string
	Data    string
	Expires time.Time
}

// ErrFull means the presence channel has reached its member limit.
var ErrFull = errors.New("presence channel is full")

// Store is the cluster-wide state. Connection ids are socket ids, unique
// across the cluster. Every method is safe for concurrent use.
type Store interface {
	// AddSubscriber records that conn holds channel and returns the
	// channel's subscription count afterwards.
	AddSubscriber(ctx context.Context, app, channel, conn string) (int, error)
	// RemoveSubscriber is the inverse; removing an absent conn is a no-op.
	RemoveSubscriber(ctx context.Context, app, channel, conn string) (int, error)
	// Channel returns the counts of one channel (zero when vacant).
	Channel(ctx context.Context, app, channel string) (Counts, error)
	// Channels lists occupied channels whose name starts with prefix.
	Channels(ctx context.Context, app, prefix string) (map[string]Counts, error)

	// AddMember adds conn as a connection of m.UserID and returns the
	// member as stored: the id type and info of the user's first live
	// connection win. first reports that the user was not a member before.
	// A new user beyond maxMembers gets ErrFull.
	AddMember(ctx context.Context, app, channel, conn string, m Member, maxMembers int) (stored Member, first bool, err error)
	// RemoveMember removes conn; last reports that the user has no
	// connection left in the channel. The returned member is the stored one.
	RemoveMember(ctx context.Context, app, channel, conn, userID string) (m Member, last bool, err error)
	// Members lists the channel's users in join order.
	Members(ctx context.Context, app, channel string) ([]Member, error)

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
