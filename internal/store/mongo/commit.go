package mongo

import (
	"context"

	"github.com/pushi-io/pushi/internal/store"
)

// Append queues t for the group committer (store.GroupCommitter): one
// $inc per channel and one InsertMany for everything queued. When the
// server is unreachable the whole queue fails at once (a 503 after one
// timeout, not one per queued trigger).
func (s *Store) Append(ctx context.Context, t store.Trigger, then func([]store.Event)) ([]store.Event, error) {
	return s.commits.Append(ctx, t, then)
}
