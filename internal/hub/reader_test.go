package hub

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/apps"
)

// recordConn is a net.Conn that records what the server writes.
type recordConn struct {
	net.Conn // nil: only the methods below are used
	mu       sync.Mutex
	out      bytes.Buffer
	closed   bool
}

func (r *recordConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(b)
}
func (r *recordConn) Close() error                     { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }
func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordConn) SetReadDeadline(time.Time) error  { return nil }

// frames waits for the writer and splits what was written into payloads.
func (r *recordConn) frames(t *testing.T, want int) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		r.mu.Lock()
		b := append([]byte(nil), r.out.Bytes()...)
		r.mu.Unlock()
		var out []string
		for len(b) >= 2 {
			n := int(b[1] & 0x7f)
			hdr := 2
			if n == 126 {
				n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
			}
			if len(b) < hdr+n {
				break
			}
			if b[0]&0x0f == opClose {
				out = append(out, "close:"+itoa(int(binary.BigEndian.Uint16(b[hdr:]))))
			} else {
				out = append(out, string(b[hdr:hdr+n]))
			}
			b = b[hdr+n:]
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func recordedConn(t *testing.T) (*Conn, *recordConn) {
	n, app := testNode(t)
	return recordedConnOn(n, app)
}

func recordedConnOn(n *Node, app *apps.App) (*Conn, *recordConn) {
	rc := &recordConn{}
	c := &Conn{node: n, app: app, socketID: "1.1", nc: rc, subs: map[string]*chanSub{}}
	c.timer = time.NewTimer(time.Hour)
	return c, rc
}

// clientFrame builds a masked client frame.
func clientFrame(op ws.OpCode, fin bool, payload string) []byte {
	var buf bytes.Buffer
	f := ws.NewFrame(op, fin, []byte(payload))
	f = ws.MaskFrameInPlace(f)
	ws.WriteFrame(&buf, f)
	return buf.Bytes()
}

func TestConsumeByteByByteAndFragments(t *testing.T) {
	c, rc := recordedConn(t)
	ping := `{"event":"pusher:ping","data":{}}`
	var in []byte
	in = append(in, clientFrame(ws.OpText, false, ping[:10])...)
	in = append(in, clientFrame(ws.OpPing, true, "hi")...) // control frames may interleave
	in = append(in, clientFrame(ws.OpContinuation, false, ping[10:20])...)
	in = append(in, clientFrame(ws.OpContinuation, true, ping[20:])...)
	in = append(in, clientFrame(ws.OpText, true, ping)...)
	for i := range in {
		if !c.consume(in[i : i+1]) {
			t.Fatal("connection ended")
		}
	}
	if c.in.partial != nil || c.in.msg != nil {
		t.Fatal("buffers kept after complete frames")
	}
	got := rc.frames(t, 3)
	want := []string{"hi", `{"event":"pusher:pong","data":"{}"}`, `{"event":"pusher:pong","data":"{}"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestConsumeViolations(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
		close string
	}{
		{"binary", clientFrame(ws.OpBinary, true, "x"), "close:1003"},
		{"unmasked", ws.MustCompileFrame(ws.NewTextFrame([]byte("x"))), "close:1002"},
		{"continuation first", clientFrame(ws.OpContinuation, true, "x"), "close:1002"},
		{"oversized", clientFrame(ws.OpText, true, strings.Repeat("x", 70000))[:20], "close:1009"},
		{"long control", clientFrame(ws.OpPing, true, strings.Repeat("x", 126)), "close:1002"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rc := recordedConn(t)
			c.consume(tc.input)
			if !c.in.discard {
				t.Fatal("not discarding input after a violation")
			}
			c.consume(clientFrame(ws.OpText, true, `{"event":"pusher:ping"}`)) // ignored
			got := rc.frames(t, 1)
			if len(got) != 1 || got[0] != tc.close {
				t.Fatalf("got %q, want only %s", got, tc.close)
			}
		})
	}
}

func TestConsumeClientClose(t *testing.T) {
	c, rc := recordedConn(t)
	payload := string([]byte{0x03, 0xe8}) // 1000
	if c.consume(clientFrame(ws.OpClose, true, payload)) {
		t.Fatal("a close frame must end the connection")
	}
	if got := rc.frames(t, 1); len(got) != 1 || got[0] != "close:1000" {
		t.Fatalf("close echo: %q", got)
	}
}

// FuzzConsume feeds arbitrary bytes, split at an arbitrary point, to the
// frame parser: nothing may panic and no buffer may outgrow the limit.
func FuzzConsume(f *testing.F) {
	f.Add(clientFrame(ws.OpText, true, `{"event":"pusher:ping"}`), uint16(3))
	f.Add(append(clientFrame(ws.OpText, false, `{"ev`), clientFrame(ws.OpContinuation, true, `ent":"x"}`)...), uint16(7))
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint16(1))
	// One node for every input: a node owns an epoll fd, workers and a
	// queue, and a node per input once exhausted the fuzz worker.
	n, app := testNode(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		c, _ := recordedConnOn(n, app)
		cut := int(split) % (len(data) + 1)
		if c.consume(data[:cut]) {
			c.consume(data[cut:])
		}
		if max := c.node.opts.MaxMessageBytes + 14; len(c.in.partial) > max || len(c.in.msg) > max {
			t.Fatalf("buffers grew past the limit: %d/%d", len(c.in.partial), len(c.in.msg))
		}
		n.leaveAll(c)
	})
}
