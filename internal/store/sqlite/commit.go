package sqlite

import (
	"context"

	"github.com/pushi-io/pushi/internal/store"
)

// Append queues t for the group committer (store.GroupCommitter): one
// transaction and one fsync for everything queued.
func (s *Store) Append(ctx context.Context, t store.Trigger, then func([]store.Event)) ([]store.Event, error) {
	return s.commits.Append(ctx, t, then)
}

// writeTx writes a batch in one transaction, setting each one's records.
func (s *Store) writeTx(batch []*store.Pending) error {
	ctx := context.Background() // a taken trigger is committed whole or not at all
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	st := s.stmts.in(ctx, tx)
	for _, p := range batch {
		out, err := appendOne(ctx, st, &p.Trigger)
		if err != nil {
			return err
		}
		p.Out = out
	}
	return wrap(tx.Commit())
}
