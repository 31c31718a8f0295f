package soak

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestSeqTrack(t *testing.T) {
	var in seqTrack
	for _, s := range []int64{1, 2, 3} {
		in.observe(s)
	}
	if last, recv, gaps, behind, bad := in.snapshot(); last != 3 || recv != 3 || gaps != 0 || behind != 0 || bad != "" {
		t.Fatalf("in order: last %d recv %d gaps %d behind %d %q", last, recv, gaps, behind, bad)
	}

	var gap seqTrack
	for _, s := range []int64{1, 2, 5, 6} {
		gap.observe(s)
	}
	if last, _, gaps, behind, bad := gap.snapshot(); last != 6 || gaps != 2 || behind != 0 || bad == "" {
		t.Fatalf("gap: last %d gaps %d behind %d %q", last, gaps, behind, bad)
	}

	var dup seqTrack
	for _, s := range []int64{1, 2, 2, 3, 1} {
		dup.observe(s)
	}
	if last, recv, gaps, behind, _ := dup.snapshot(); last != 3 || recv != 5 || gaps != 0 || behind != 2 {
		t.Fatalf("duplicates: last %d recv %d gaps %d behind %d", last, recv, gaps, behind)
	}

	// A subscriber that never saw seq 1 starts with a gap.
	var late seqTrack
	late.observe(2)
	if _, _, gaps, _, _ := late.snapshot(); gaps != 1 {
		t.Fatalf("late start: gaps %d", gaps)
	}
}

func TestParseTick(t *testing.T) {
	msg := []byte(`{"event":"tick","channel":"soak-7","data":"{\"ch\":7,\"seq\":42}"}`)
	ch, tk, err := parseTick(msg)
	if err != nil || ch != "soak-7" || tk.Ch != 7 || tk.Seq != 42 {
		t.Fatalf("parseTick = %q %+v %v", ch, tk, err)
	}
	for _, bad := range []string{
		`{"event":"other","channel":"soak-7","data":"{\"ch\":7,\"seq\":42}"}`,
		`{"event":"tick","channel":"soak-7","data":{"ch":7,"seq":42}}`,
		`{"event":"tick","channel":"soak-7","data":"{\"ch\":7}"}`,
		`not json`,
	} {
		if _, _, err := parseTick([]byte(bad)); err == nil {
			t.Errorf("parseTick(%s): no error", bad)
		}
	}
}

var testMask = [4]byte{1, 2, 3, 4}

// unmask checks a masked frame's header bytes and returns its payload.
func unmask(t *testing.T, b []byte, wantFirst byte, wantLen int) []byte {
	t.Helper()
	if b[0] != wantFirst {
		t.Fatalf("first byte %#x, want %#x", b[0], wantFirst)
	}
	if b[1]&0x80 == 0 {
		t.Fatal("mask bit not set")
	}
	var n, off int
	switch l := int(b[1] & 0x7f); l {
	case 126:
		n, off = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		n, off = int(binary.BigEndian.Uint64(b[2:])), 10
	default:
		n, off = l, 2
	}
	if n != wantLen || len(b) != off+4+n {
		t.Fatalf("length %d (frame %d bytes), want %d", n, len(b), wantLen)
	}
	if !bytes.Equal(b[off:off+4], testMask[:]) {
		t.Fatalf("mask %v", b[off:off+4])
	}
	p := append([]byte(nil), b[off+4:]...)
	ws.Cipher(p, testMask, 0)
	return p
}

func kind(t *testing.T, name string) malformedKind {
	t.Helper()
	for _, k := range malformedKinds {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no kind %s", name)
	return malformedKind{}
}

func TestMalformedFrames(t *testing.T) {
	ping := `{"event":"pusher:ping","data":{}}`
	if p := unmask(t, kind(t, "binary").build(testMask), 0x82, len(ping)); string(p) != ping {
		t.Fatalf("binary payload %q", p)
	}
	if p := unmask(t, kind(t, "reserved-bits").build(testMask), 0xC1, len(ping)); string(p) != ping {
		t.Fatalf("rsv payload %q", p)
	}
	if p := unmask(t, kind(t, "bad-opcode").build(testMask), 0x83, 1); string(p) != "?" {
		t.Fatalf("bad opcode payload %q", p)
	}
	// One byte over the limit, so the server must answer 1009.
	p := unmask(t, kind(t, "oversized").build(testMask), 0x81, maxMessage+1)
	if !bytes.HasPrefix(p, []byte(`{"event":"pusher:ping","data":{"p":"xxx`)) || !bytes.HasSuffix(p, []byte(`x"}}`)) {
		t.Fatalf("oversized payload %.60q…", p)
	}
	p = unmask(t, kind(t, "invalid-json").build(testMask), 0x81, len(`{"event":"pusher:subscribe","data":`))
	if string(p) != `{"event":"pusher:subscribe","data":` {
		t.Fatalf("invalid json payload %q", p)
	}
	// Unmasked: FIN+text, mask bit clear, payload in the clear.
	b := kind(t, "unmasked").build(testMask)
	if b[0] != 0x81 || b[1] != byte(len(ping)) || string(b[2:]) != ping {
		t.Fatalf("unmasked frame %q", b)
	}
	// The mask is applied to a copy: the caller's payload is untouched.
	orig := []byte("hello")
	maskedFrame(ws.OpText, true, 0, orig, testMask)
	if string(orig) != "hello" {
		t.Fatalf("payload masked in place: %q", orig)
	}
}

func TestFloodWindowOverlaps(t *testing.T) {
	var w floodWindow
	t0 := time.Unix(1000, 0)
	if w.overlaps(t0, t0.Add(time.Second)) {
		t.Fatal("overlaps before the flood started")
	}
	w.start.Store(t0.Add(5 * time.Second).UnixNano())
	if w.overlaps(t0, t0.Add(4*time.Second)) {
		t.Fatal("a dial that ended before the flood overlaps")
	}
	if !w.overlaps(t0, t0.Add(6*time.Second)) {
		t.Fatal("a dial running into the running flood does not overlap")
	}
	w.end.Store(t0.Add(6 * time.Second).UnixNano())
	if !w.overlaps(t0.Add(6500*time.Millisecond), t0.Add(17*time.Second)) {
		t.Fatal("a dial started in the second after the flood does not overlap")
	}
	if w.overlaps(t0.Add(8*time.Second), t0.Add(18*time.Second)) {
		t.Fatal("a dial started 2 s after the flood overlaps")
	}
}

// lateCtx is a context whose deadline has passed while its timer has not
// yet fired (Err still nil), as happens on a loaded machine.
type lateCtx struct {
	context.Context
	dl time.Time
}

func (c lateCtx) Deadline() (time.Time, bool) { return c.dl, true }

func TestEnded(t *testing.T) {
	if ended(context.Background()) {
		t.Fatal("a context without deadline ended")
	}
	if ended(lateCtx{context.Background(), time.Now().Add(time.Hour)}) {
		t.Fatal("a deadline an hour away ended")
	}
	if !ended(lateCtx{context.Background(), time.Now().Add(-time.Millisecond)}) {
		t.Fatal("a passed deadline whose timer has not fired did not end")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !ended(ctx) {
		t.Fatal("a cancelled context did not end")
	}
}
