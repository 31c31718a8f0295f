// Package webhook delivers protocol webhooks (docs/protocol.md §15) to the
// endpoints each app configures: filtered per endpoint, optionally
// batched, signed with the app's secret, retried with backoff, and
// bounded per app so a dead endpoint cannot grow memory without limit.
//
// Emit only hands the event over (a bounded channel); one intake
// goroutine takes it from there: the delays and their cancellation, then
// the queues. Dispatcher.mu is the package's only lock, a leaf in the
// process's lock order (docs/architecture.md, "Lock order"): it is never
// held across a network call, a timer callback's work or a call into the
// registry. The delays are the intake goroutine's alone and take none.
package webhook

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// Event is one webhook event as sent in the body's "events".
type Event struct {
	Name              string `json:"name"`
	Channel           string `json:"channel,omitempty"`
	UserID            string `json:"user_id,omitempty"`
	Event             string `json:"event,omitempty"`     // client_event
	Data              string `json:"data,omitempty"`      // client_event
	SocketID          string `json:"socket_id,omitempty"` // client_event
	SubscriptionCount *int   `json:"subscription_count,omitempty"`
}

// Options tune the dispatcher; DefaultOptions are the protocol's values.
type Options struct {
	Version   string // User-Agent: pushi/<Version>
	Logger    *slog.Logger
	Now       func() time.Time
	Delay     time.Duration // channel_vacated and member_removed wait this long
	DelayMax  int           // delayed events per app; beyond it the oldest goes out early
	Handoff   int           // events Emit may hand over before the intake takes them; beyond it they are dropped
	BatchWait time.Duration // a batch is sent this long after its first event…
	BatchMax  int           // …or when it holds this many
	QueueMax  int           // events waiting per app; beyond it the oldest go
	Timeout   time.Duration // one attempt, in all
	Senders   int           // concurrent requests, all apps together
	PerApp    int           // concurrent requests of one app
	PerHost   int           // concurrent requests to one host:port, all apps together

	ConnectTimeout time.Duration // TCP connect, and TLS handshake
	HeaderTimeout  time.Duration // from the request written to the answer's first byte

	RetryFirst, RetryMax, RetryFor time.Duration // backoff start, cap, give-up age
}

// DefaultOptions are docs/protocol.md §15's values, and pushi's own bounds,
// measured on 2 cores (issue 10):
//   - Handoff 65 536: about 112 B per event, 7 MB when full. It absorbed
//     50 sockets × 1 000 channels dropped at once with nothing lost (16 384
//     lost 5 701 of those 50 000: one intake goroutine gets a small share
//     of the CPU while dozens of connections tear down); 200 000 channels
//     at once lost 28 660, counted.
//   - DelayMax 50 000: a pending vacated costs about 240 B, so 12 MB per
//     app at most.
//   - Senders 16, PerApp 4, PerHost 4: goroutines are cheap, and one app
//     (or one host shared by apps) then holds at most a quarter of them.
//   - ConnectTimeout 3 s allows one lost SYN (Linux resends after 1 s);
//     HeaderTimeout 5 s halves what a hanging endpoint costs a sender.
func DefaultOptions() Options {
	return Options{
		Delay: 3 * time.Second, DelayMax: 50000, Handoff: 65536, BatchWait: 200 * time.Millisecond, BatchMax: 100, QueueMax: 10000,
		Timeout: 10 * time.Second, Senders: 16, PerApp: 4, PerHost: 4,
		ConnectTimeout: 3 * time.Second, HeaderTimeout: 5 * time.Second,
		RetryFirst: time.Second, RetryMax: 60 * time.Second, RetryFor: 5 * time.Minute,
	}
}

// Stats are the dispatcher's counters since it started.
type Stats struct {
	Sent         uint64 // bodies answered 2xx
	Failed       uint64 // attempts that failed (non-2xx, network error, timeout)
	Retried      uint64 // retries scheduled
	Dropped      uint64 // bodies given up: retried for RetryFor, or pending at Close
	QueueDropped uint64 // events dropped because their app's queue was full
	Refused      uint64 // bodies dropped unsent: the endpoint's address is internal (netguard)
	HandoffFull  uint64 // events Emit dropped because the hand-off was full
}

// Dispatcher collects, batches and sends webhooks.
type Dispatcher struct {
	opts     Options
	log      *slog.Logger
	registry apps.Registry

	in         chan handoff  // Emit → intake
	shut       atomic.Bool   // Close has begun: Emit ignores events
	quit       chan struct{} // closed by Close: the intake drains, releases the delays and exits
	intakeDone chan struct{}
	delays     *delays // the intake goroutine's alone

	mu       sync.Mutex
	closing  bool                  // Close has begun
	closed   bool                  // no new events at all
	apps     map[string]*appQueue  // apps holding events
	runnable fifo[*appQueue]       // apps with a runnable endpoint and a free slot, in turn
	hosts    map[string]*hostSlots // hosts with a request in flight
	seq      uint64                // numbers batches by age

	ctx        context.Context // requests; cancelled when Close stops waiting
	cancel     context.CancelFunc
	clients    clients
	refusedLog map[string]time.Time // app and host → last "refused" log line

	wake chan struct{} // a sender may find work
	stop chan struct{} // closed by Close: senders exit once ready is empty
	done sync.WaitGroup

	sent, failed, retried, dropped, queueDropped, refused, handoffFull atomic.Uint64
}

// orDefault sets an unset (zero or negative) option to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// New starts the dispatcher's senders.
func New(opts Options, registry apps.Registry) *Dispatcher {
	def := DefaultOptions()
	orDefault(&opts.Delay, def.Delay)
	orDefault(&opts.DelayMax, def.DelayMax)
	orDefault(&opts.Handoff, def.Handoff)
	orDefault(&opts.BatchWait, def.BatchWait)
	orDefault(&opts.BatchMax, def.BatchMax)
	orDefault(&opts.QueueMax, def.QueueMax)
	orDefault(&opts.Timeout, def.Timeout)
	orDefault(&opts.Senders, def.Senders)
	orDefault(&opts.PerApp, def.PerApp)
	orDefault(&opts.PerHost, def.PerHost)
	orDefault(&opts.ConnectTimeout, def.ConnectTimeout)
	orDefault(&opts.HeaderTimeout, def.HeaderTimeout)
	orDefault(&opts.RetryFirst, def.RetryFirst)
	orDefault(&opts.RetryMax, def.RetryMax)
	orDefault(&opts.RetryFor, def.RetryFor)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{
		opts: opts, log: opts.Logger, registry: registry,
		in: make(chan handoff, opts.Handoff), quit: make(chan struct{}), intakeDone: make(chan struct{}),
		delays: newDelays(opts.DelayMax), apps: map[string]*appQueue{}, hosts: map[string]*hostSlots{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		clients: newClients(&opts), refusedLog: map[string]time.Time{},
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.intake()
	for range opts.Senders {
		d.done.Add(1)
		go d.sender()
	}
	return d
}

// Emit raises ev for app. It never blocks and takes no lock of the
// dispatcher: it hands the event to the intake goroutine, or drops it
// (counted in HandoffFull) when Handoff events are already waiting. The
// hub calls it under a connection's lock, so waiting here would stall
// that connection and, through the shard locks, others. It returns at
// once, without allocating, when the app has no endpoint.
func (d *Dispatcher) Emit(app *apps.App, ev Event) {
	if len(app.Webhooks) == 0 || d.shut.Load() {
		return
	}
	select {
	case d.in <- handoff{app, ev}:
	default:
		d.handoffFull.Add(1)
	}
}

// Stats reads the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Failed: d.failed.Load(), Retried: d.retried.Load(),
		Dropped: d.dropped.Load(), QueueDropped: d.queueDropped.Load(), Refused: d.refused.Load(),
		HandoffFull: d.handoffFull.Load()}
}

// Close stops accepting events, sends what is delayed or batched at once,
// and lets the senders make one attempt at everything ready until ctx
// ends. Bodies still waiting then (and those waiting for a retry, or for
// an endpoint backed off after a timeout) are dropped and counted. Every goroutine has stopped when it returns.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return nil
	}
	d.closing = true
	d.mu.Unlock()
	// Events handed over before Close (a node's last channel_vacated, say)
	// are taken, the delayed ones released at once; later Emits are
	// ignored.
	d.shut.Store(true)
	close(d.quit)
	<-d.intakeDone
	d.mu.Lock()
	d.closed = true
	for _, aq := range d.apps {
		for _, ep := range aq.endpoints {
			if ep.open != nil {
				d.sealLocked(ep)
			}
		}
		for dl := aq.popWaiting(); dl != nil; dl = aq.popWaiting() {
			dl.timer.Stop()
			d.dropped.Add(1)
			d.doneLocked(dl)
		}
	}
	d.dropCoolingLocked()
	d.mu.Unlock()
	close(d.stop)
	finished := make(chan struct{})
	go func() { d.done.Wait(); close(finished) }()
	select {
	case <-finished:
		d.mu.Lock()
		d.dropCoolingLocked() // those that timed out during Close
		d.mu.Unlock()
		d.stopped()
		return nil
	case <-ctx.Done():
		d.mu.Lock()
		for _, aq := range d.apps {
			for _, ep := range aq.endpoints {
				for dl, ok := ep.ready.pop(); ok; dl, ok = ep.ready.pop() {
					d.dropped.Add(1)
					d.doneLocked(dl)
				}
			}
		}
		d.mu.Unlock()
		d.cancel() // abort the requests in flight; their bodies count as dropped
		<-finished
		d.stopped()
		return ctx.Err()
	}
}

// stopped releases what the senders used: the request context and the
// idle keep-alive connections with their goroutines.
func (d *Dispatcher) stopped() {
	d.cancel()
	d.clients.closeIdle()
}
