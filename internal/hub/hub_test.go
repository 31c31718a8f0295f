package hub

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/sqlite"
)

func testNode(t testing.TB) (*Node, *apps.App) {
	t.Helper()
	return testNodeWith(t, nil)
}

// testNodeWith is testNode with a durable store (nil: none).
func testNodeWith(t testing.TB, st store.Store) (*Node, *apps.App) {
	t.Helper()
	return newTestNode(t, st, func(a *apps.App) { a.ClientEvents, a.SubscriptionCount, a.Watchlist = true, true, true })
}

// newTestNode runs a node with one app "1" (key "key", secret "secret"),
// adjusted by configure, and closes it when the test ends.
func newTestNode(t testing.TB, st store.Store, configure func(*apps.App)) (*Node, *apps.App) {
	t.Helper()
	return buildTestNode(t, configure, func(o *Options) { o.Store = st }, state.NewMemory(), nil)
}

// buildTestNode is every test node: app "1" (key "key", secret "secret")
// adjusted by configure, options by tune, on the given state and broker;
// closed when the test ends.
func buildTestNode(t testing.TB, configure func(*apps.App), tune func(*Options), st state.State, newBroker NewBroker) (*Node, *apps.App) {
	t.Helper()
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "1", "key", "secret", "test"
	if configure != nil {
		configure(&a)
	}
	reg, err := apps.NewStatic([]apps.App{a})
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.QueueBudget = 64 << 20
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if tune != nil {
		tune(&opts)
	}
	n, err := NewNode(opts, reg, st, newBroker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n, reg.ByID("1")
}

// pipeConn returns a Conn on one end of an in-memory pipe whose other end
// is drained.
func pipeConn(t testing.TB, n *Node, app *apps.App) (*Conn, net.Conn) {
	server, client := net.Pipe()
	c := &Conn{node: n, app: app, socketID: n.ids.Next(), nc: server, subs: map[string]*chanSub{}}
	c.timer = time.NewTimer(time.Hour)
	go io.Copy(io.Discard, client)
	t.Cleanup(func() { client.Close(); server.Close() })
	return c, client
}

func TestIndexAddRemoveBroadcast(t *testing.T) {
	n, app := testNode(t)
	h := n.index
	c1, _ := pipeConn(t, n, app)
	c2, _ := pipeConn(t, n, app)
	s1 := &subscription{conn: c1, socketID: c1.socketID}
	s2 := &subscription{conn: c2, socketID: c2.socketID}
	if !h.add(app.ID, "ch", s1) {
		t.Fatal("first Add should report the first subscriber")
	}
	if h.add(app.ID, "ch", s2) {
		t.Fatal("second Add reported first")
	}
	if got := h.broadcast(app.ID, "ch", textFrame([]byte(`{}`)), c1.socketID, 0); got != 1 {
		t.Fatalf("broadcast with exclusion reached %d", got)
	}
	if h.remove(app.ID, "ch", s1) {
		t.Fatal("Remove of one of two reported last")
	}
	if h.remove(app.ID, "ch", s1) {
		t.Fatal("double Remove must be a no-op")
	}
	if !h.remove(app.ID, "ch", s2) || h.localCount(app.ID, "ch") != 0 {
		t.Fatal("last Remove should empty the channel")
	}
}

func TestSlowConsumerIsClosedNotBlocking(t *testing.T) {
	n, app := testNode(t)
	n.opts.QueueBudget = 1024
	server, client := net.Pipe() // nobody reads client: writes block
	defer client.Close()
	c := &Conn{node: n, app: app, socketID: "1.1", nc: server, subs: map[string]*chanSub{}}
	frame := textFrame(make([]byte, 300))
	done := make(chan struct{})
	go func() {
		for i := 0; i < 20; i++ {
			c.send(frame)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("send blocked on a slow consumer")
	}
	c.wmu.Lock()
	closing, code := c.closing, c.closeCode
	c.wmu.Unlock()
	if !closing || code != protocol.CodeOverCapacity {
		t.Fatalf("closing=%v code=%d, want 4100", closing, code)
	}
	if n.metrics.slowConsumers.Load() != 1 {
		t.Fatalf("slow consumer count %d", n.metrics.slowConsumers.Load())
	}
}

// FuzzHandleMessage feeds arbitrary text messages to the protocol handler:
// nothing may panic, whatever the frame.
func FuzzHandleMessage(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"presence-x","auth":"key:00","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"private-x\",\"auth\":5}"}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"x"}}`,
		`{"event":"pusher:signin","data":{"auth":"key:ab","user_data":"{\"id\":\"1\",\"watchlist\":[\"2\"]}"}}`,
		`{"event":"client-x","channel":"private-x","data":{"a":1}}`,
		`{"event":"pusher:ping"}`, `{"event":"x"}`, `{`, `{"event":"pusher:subscribe","data":{"channel":"#server-to-user-1"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"personal-1","auth":"","history":3}}`,
		`{"event":"pusher:subscribe","data":{"channel":"peer-x:a&b"}}`, `{"event":"pusher:unsubscribe","data":{"channel":"personal-1"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"news","since":0}}`, `{"event":"pusher:subscribe","data":{"channel":"news","history":"2"}}`,
		`{"event":"pushi:latest","data":{"channel":"news","skip":1,"count":5}}`, `{"event":"pusher:latest","data":{"channel":"news","since":-1}}`,
	} {
		f.Add([]byte(s))
	}
	// A real store, so history, replay and persisted client events are fuzzed too.
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	n, app := testNodeWith(f, st)
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, _ := pipeConn(t, n, app)
		n.handleMessage(c, msg)
		n.handleMessage(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"news"}}`))
		n.leaveAll(c)
	})
}

// discardConn and devNull let benchmarks run the real plain-TCP write
// path (writer pool, non-blocking writev) into /dev/null: they measure the
// hub, encoding, queueing and one cheap syscall, without TCP's share.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }

// devNull is a raw connection whose writes go to /dev/null, so the writer
// pool's non-blocking writev path runs with a real (cheap) syscall.
type devNull struct{ fd uintptr }

func (d devNull) Control(f func(uintptr)) error    { f(d.fd); return nil }
func (d devNull) Read(f func(uintptr) bool) error  { f(d.fd); return nil }
func (d devNull) Write(f func(uintptr) bool) error { f(d.fd); return nil }

func discardingConn(tb testing.TB, n *Node, app *apps.App) *Conn {
	c := &Conn{node: n, app: app, socketID: n.ids.Next(), nc: discardConn{}, subs: map[string]*chanSub{}}
	c.timer = time.NewTimer(time.Hour)
	devNullOnce.Do(func() {
		if f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			devNullFile = f // shared by every benchmark connection, never closed
		}
	})
	if devNullFile == nil {
		tb.Fatal("cannot open " + os.DevNull)
	}
	c.raw = devNull{devNullFile.Fd()}
	return c
}

var (
	devNullOnce sync.Once
	devNullFile *os.File
)

func benchBroadcast(b *testing.B, subscribers int) {
	n, app := testNode(b)
	for i := 0; i < subscribers; i++ {
		c := discardingConn(b, n, app)
		n.index.add(app.ID, "bench", &subscription{conn: c, socketID: c.socketID})
	}
	data := string(make([]byte, 100))
	ch := protocol.Channel{Name: "bench"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Publish(context.Background(), app, ch, "ev", data, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(subscribers), "recipients/op")
}

func BenchmarkBroadcast1(b *testing.B)     { benchBroadcast(b, 1) }
func BenchmarkBroadcast100(b *testing.B)   { benchBroadcast(b, 100) }
func BenchmarkBroadcast10000(b *testing.B) { benchBroadcast(b, 10000) }

func BenchmarkEncodeEvent(b *testing.B) {
	ev := &protocol.Event{Name: "update", Channel: "news", Data: `{"price":"` + strconv.Itoa(123456) + `","text":"a \"quoted\" value"}`}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		textFrame(protocol.EncodeEvent(ev))
	}
}

func BenchmarkQueueSend(b *testing.B) {
	n, app := testNode(b)
	c := discardingConn(b, n, app)
	frame := textFrame(make([]byte, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.send(frame)
	}
}
