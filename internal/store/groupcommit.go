package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// MaxGroup bounds one group commit: large enough that the fsync (or the
// round trip) is shared by everything a burst queues, small enough that
// one transaction never holds the writer for long.
const MaxGroup = 256

// Pending is one queued Append. Write functions read Trigger and set Out.
type Pending struct {
	Trigger Trigger
	Out     []Event

	ctx   context.Context
	then  func([]Event)
	state atomic.Int32
	err   error
	done  chan struct{}
}

// Pending states: the committer and a cancelled caller race to move a
// request out of queued; whoever wins decides whether it is written.
const (
	queued int32 = iota
	taken
	abandoned
)

// ErrClosed is Append after Close.
var ErrClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

// GroupCommitter is the Append machinery both backends share: callers
// queue triggers, one committer goroutine writes everything queued (up to
// MaxGroup) with one call of write, then runs the callbacks in commit
// order. That single goroutine is what puts callbacks in seq order per
// channel, and why a callback must not Append to the same store: it would
// wait for itself.
type GroupCommitter struct {
	// write stores all of a batch or none of it, setting each Out.
	write func([]*Pending) error
	// outage reports an error that concerns every write alike (the server
	// is unreachable): the batch and everything queued then fail at once
	// instead of being retried one by one, each waiting out a timeout.
	outage func(error) bool

	queue   chan *Pending
	closeMu sync.RWMutex // keeps Append from sending while Close closes the queue
	closed  bool
	done    chan struct{}
}

// NewGroupCommitter starts the committer; outage may be nil.
func NewGroupCommitter(write func([]*Pending) error, outage func(error) bool) *GroupCommitter {
	if outage == nil {
		outage = func(error) bool { return false }
	}
	g := &GroupCommitter{write: write, outage: outage, queue: make(chan *Pending, 4*MaxGroup), done: make(chan struct{})}
	go g.loop()
	return g
}

// Append queues t and waits for its outcome. Cancelling ctx while t is
// still queued returns ctx.Err() and nothing is written; once taken, the
// caller waits, since it must learn whether the records exist.
func (g *GroupCommitter) Append(ctx context.Context, t Trigger, then func([]Event)) ([]Event, error) {
	if len(t.Channels) == 0 {
		return nil, nil
	}
	p := &Pending{Trigger: t, ctx: ctx, then: then, done: make(chan struct{})}
	g.closeMu.RLock()
	if g.closed {
		g.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case g.queue <- p:
	case <-ctx.Done():
		g.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	g.closeMu.RUnlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		if p.state.CompareAndSwap(queued, abandoned) {
			return nil, ctx.Err()
		}
		<-p.done
	}
	return p.Out, p.err
}

// Close lets the committer finish what is queued, then stops it.
func (g *GroupCommitter) Close() {
	g.closeMu.Lock()
	if g.closed {
		g.closeMu.Unlock()
		return
	}
	g.closed = true
	close(g.queue)
	g.closeMu.Unlock()
	<-g.done
}

func (g *GroupCommitter) loop() {
	defer close(g.done)
	batch := make([]*Pending, 0, MaxGroup)
	for first := range g.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < MaxGroup {
			select {
			case p, ok := <-g.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		g.commit(batch)
	}
}

// commit writes a batch at once. If that fails, each trigger is retried
// alone so one bad trigger cannot fail the others.
func (g *GroupCommitter) commit(batch []*Pending) {
	live := batch[:0]
	for _, p := range batch {
		if p.ctx.Err() != nil {
			if p.state.CompareAndSwap(queued, abandoned) {
				p.err = p.ctx.Err()
				close(p.done)
			}
			continue
		}
		if p.state.CompareAndSwap(queued, taken) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return
	}
	err := g.write(live)
	switch {
	case err == nil:
		for _, p := range live {
			finish(p, nil)
		}
	case g.outage(err):
		for _, p := range live {
			finish(p, err)
		}
		g.failQueued(err)
	case len(live) == 1:
		finish(live[0], err)
	default:
		for _, p := range live {
			finish(p, g.write([]*Pending{p}))
		}
	}
}

// failQueued fails the triggers queued now, none of them written.
func (g *GroupCommitter) failQueued(err error) {
	for {
		select {
		case p, ok := <-g.queue:
			if !ok {
				return
			}
			if p.state.CompareAndSwap(queued, taken) { // else its caller has gone
				finish(p, err)
			}
		default:
			return
		}
	}
}

// finish runs the callback of a written trigger and wakes its caller.
func finish(p *Pending, err error) {
	if err != nil {
		p.Out, p.err = nil, err
	} else if p.then != nil {
		p.then(p.Out)
	}
	close(p.done)
}

// Queued is how many triggers wait for the committer (tests watch it).
func (g *GroupCommitter) Queued() int { return len(g.queue) }
