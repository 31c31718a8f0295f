package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// fleet opens many subscribed connections and runs one reader goroutine per
// connection.
type fleet struct {
	o *Options

	// channel returns the channel connection i subscribes to; auth, when set,
	// returns its auth and channel_data.
	channel func(i int) string
	auth    func(socketID, channel string, i int) (auth, channelData string)
	// onEvent gets every frame that is not ping, subscription_succeeded,
	// subscription_error or error. msg is only valid during the call.
	onEvent func(i int, ev, msg []byte)

	conns      []atomic.Pointer[Conn]
	subOK      []atomic.Bool // connection i got subscription_succeeded
	handshake  *Histogram    // dial start → connection_established
	subscribe  *Histogram    // subscribe sent → subscription_succeeded
	connected  atomic.Uint64
	subscribed atomic.Uint64
	connFail   atomic.Uint64
	subFail    atomic.Uint64
	dropped    atomic.Uint64 // closed by the server or the network after subscribing
	closing    atomic.Bool

	mu      sync.Mutex
	lastErr string

	pending sync.WaitGroup // one per connection until subscribed or failed
	readers sync.WaitGroup
}

func newFleet(o *Options, n int) *fleet {
	return &fleet{o: o, conns: make([]atomic.Pointer[Conn], n), subOK: make([]atomic.Bool, n), handshake: new(Histogram), subscribe: new(Histogram)}
}

func (f *fleet) setErr(format string, args ...any) {
	f.mu.Lock()
	f.lastErr = fmt.Sprintf(format, args...)
	f.mu.Unlock()
}

// LastError is the most recent connection or subscription failure.
func (f *fleet) LastError() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// open starts every connection at the configured connect rate and waits
// until each is subscribed or has failed (bounded by 6×timeout after the
// last start). It returns the time from the first dial to the last outcome.
func (f *fleet) open(ctx context.Context) (time.Duration, error) {
	n := len(f.conns)
	f.pending.Add(n)
	t0 := time.Now()
	inflight := make(chan struct{}, 1024) // bounds concurrent handshakes
	progress := time.Now()
	err := pace(ctx, n, f.o.ConnectRate, func(i int) {
		inflight <- struct{}{}
		f.readers.Add(1)
		go f.run(ctx, i, inflight)
		if time.Since(progress) > 2*time.Second {
			progress = time.Now()
			f.o.logf("connecting: %d started, %d subscribed, %d failed", i+1, f.subscribed.Load(), f.connFail.Load()+f.subFail.Load())
		}
	})
	if err != nil {
		return time.Since(t0), err
	}
	done := make(chan struct{})
	go func() { f.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(6 * f.o.Timeout):
		return time.Since(t0), fmt.Errorf("subscriptions still pending after %v: %d of %d subscribed", 6*f.o.Timeout, f.subscribed.Load(), n)
	case <-ctx.Done():
		return time.Since(t0), ctx.Err()
	}
	return time.Since(t0), nil
}

// ok reports whether connection i is subscribed.
func (f *fleet) ok(i int) bool { return f.subOK[i].Load() }

var (
	evPing      = []byte("pusher:ping")
	evSucceeded = []byte("pusher_internal:subscription_succeeded")
	evSubError  = []byte("pusher:subscription_error")
	evError     = []byte("pusher:error")
)

func (f *fleet) run(ctx context.Context, i int, inflight chan struct{}) {
	defer f.readers.Done()
	resolved := false
	resolve := func() {
		if !resolved {
			resolved = true
			f.pending.Done()
		}
	}
	defer resolve()
	t0 := time.Now()
	c, err := f.o.dialer.Dial(ctx)
	<-inflight
	if err != nil {
		f.connFail.Add(1)
		f.setErr("connect: %v", err)
		return
	}
	f.handshake.Record(int64(time.Since(t0)))
	f.connected.Add(1)
	f.conns[i].Store(c)
	ch := f.channel(i)
	var auth, data string
	if f.auth != nil {
		auth, data = f.auth(c.SocketID, ch, i)
	}
	ts := time.Now()
	if err := c.Subscribe(ch, auth, data); err != nil {
		f.subFail.Add(1)
		f.setErr("subscribe: %v", err)
		c.Abort()
		return
	}
	for {
		msg, err := c.Next()
		if err != nil {
			if !resolved {
				f.subFail.Add(1)
				f.setErr("before subscription_succeeded: %v", err)
			} else if !f.closing.Load() {
				f.dropped.Add(1)
				var ce *CloseError
				if errors.As(err, &ce) {
					f.setErr("server closed a subscribed connection: %d %s", ce.Code, ce.Reason)
				} else {
					f.setErr("subscribed connection lost: %v", err)
				}
			}
			c.Abort()
			return
		}
		ev := EventName(msg)
		switch {
		case bytes.Equal(ev, evPing):
			_ = c.Pong()
		case !resolved && bytes.Equal(ev, evSucceeded):
			f.subscribe.Record(int64(time.Since(ts)))
			f.subscribed.Add(1)
			f.subOK[i].Store(true)
			resolve()
		case bytes.Equal(ev, evSubError):
			f.subFail.Add(1)
			f.setErr("subscription_error: %.300s", msg)
			resolve()
		case bytes.Equal(ev, evError):
			f.setErr("pusher:error: %.300s", msg)
		default:
			if f.onEvent != nil {
				f.onEvent(i, ev, msg)
			}
		}
	}
}

// close sends close frames to every connection, at up to rate per second
// (0 = all at once), and waits for the readers to finish (bounded).
func (f *fleet) close() {
	f.closing.Store(true)
	for i := range f.conns {
		if c := f.conns[i].Load(); c != nil {
			_ = c.Close()
		}
	}
	done := make(chan struct{})
	go func() { f.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// pace calls fn(i) for i in [0, n) at rate calls per second (fn must not block
// for long), returning early if ctx ends.
func pace(ctx context.Context, n int, rate float64, fn func(i int)) error {
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		} else if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		fn(i)
	}
	return nil
}
