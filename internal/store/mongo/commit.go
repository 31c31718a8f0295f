package mongo

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/pushi-io/pushi/internal/store"
)

// maxGroup bounds one group: its records go in one InsertMany, and a
// channel's seqs for the whole group come from one $inc.
const maxGroup = 256

// appendReq states: the committer and a cancelled caller race to move a
// request out of queued; whoever wins decides whether it is written.
const (
	queued int32 = iota
	taken
	abandoned
)

type appendReq struct {
	ctx   context.Context
	t     store.Trigger
	then  func([]store.Event)
	state atomic.Int32
	out   []store.Event
	err   error
	done  chan struct{}
}

var errClosed = fmt.Errorf("%w: store closed", store.ErrUnavailable)

// Append queues t for the one committer goroutine of this Store. Callbacks
// run in seq order per channel for the triggers of this node; triggers of
// other nodes on the same channel interleave in seq but their callbacks run
// on their own node.
func (s *Store) Append(ctx context.Context, t store.Trigger, then func([]store.Event)) ([]store.Event, error) {
	if len(t.Channels) == 0 {
		return nil, nil
	}
	req := &appendReq{ctx: ctx, t: t, then: then, done: make(chan struct{})}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, errClosed
	}
	select {
	case s.appends <- req:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	s.closeMu.RUnlock()
	select {
	case <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(queued, abandoned) {
			return nil, ctx.Err()
		}
		// Taken: the caller must learn whether the records exist.
		<-req.done
	}
	return req.out, req.err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*appendReq, 0, maxGroup)
	for first := range s.appends {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxGroup {
			select {
			case r, ok := <-s.appends:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitGroup(batch)
	}
}

// commitGroup writes a batch together. If that fails, each trigger is
// retried alone (with fresh seqs: a failed write may leave a gap) so one
// bad trigger cannot fail the others.
func (s *Store) commitGroup(batch []*appendReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			if r.state.CompareAndSwap(queued, abandoned) {
				r.err = r.ctx.Err()
				close(r.done)
			}
			continue
		}
		if r.state.CompareAndSwap(queued, taken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	if err := s.write(live); err != nil {
		if len(live) == 1 {
			s.finish(live[0], err)
			return
		}
		for _, r := range live {
			s.finish(r, s.write([]*appendReq{r}))
		}
		return
	}
	for _, r := range live {
		s.finish(r, nil)
	}
}

// finish runs the callback of a written trigger and wakes its caller. It
// is called in commit order from the one committer goroutine, which is
// what puts callbacks in seq order per channel.
func (s *Store) finish(r *appendReq, err error) {
	if err != nil {
		r.out, r.err = nil, err
	} else if r.then != nil {
		r.then(r.out)
	}
	close(r.done)
}
