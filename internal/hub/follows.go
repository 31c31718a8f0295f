package hub

import (
	"context"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/store"
)

// Store returns the durable store; nil when store features are off.
func (n *Node) Store() store.Store { return n.opts.Store }

// FollowChanged tells every node that userID started (added) or stopped
// following channel, once the store holds the change: the sockets holding
// personal-<userID> join or leave the channel (docs/features.md §3). Announcing an
// unchanged follow is harmless, so callers may announce on every request.
func (n *Node) FollowChanged(ctx context.Context, app *apps.App, userID, channel string, added bool) error {
	return n.broker.Send(ctx, broker.FollowChanged{App: app.ID, UserID: userID, Channel: channel, Added: added})
}
