package soak

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// A malformed kind is one way a client misbehaves, with the answer the
// server documents for it (internal/server/rawframes_test.go,
// docs/architecture.md "Connection lifecycle").
type malformedKind struct {
	name string
	// build returns the bytes to send after connection_established.
	build func(mask [4]byte) []byte
	// closeCodes: the server must close with one of these; empty means it
	// must answer with a frame matching answer and keep the socket open.
	closeCodes []int
	answer     func(p *pusherFrame) bool
	// halfClose: after sending, shut our write side; the server must then
	// close the socket (any close frame, EOF or reset will do).
	halfClose bool
}

// maxMessage is the server's PUSHI_MAX_MESSAGE_BYTES default.
const maxMessage = 65536

func errorCodeNull(p *pusherFrame) bool {
	return p.Event == "pusher:error" && strings.HasPrefix(string(p.Data), `{"code":null,`)
}

var malformedKinds = []malformedKind{
	{name: "invalid-json", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpText, true, 0, []byte(`{"event":"pusher:subscribe","data":`), m)
	}, answer: errorCodeNull},
	{name: "unknown-event", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpText, true, 0, []byte(`{"event":"pusher:soak-nonsense","data":{}}`), m)
	}, answer: errorCodeNull},
	{name: "bad-private-auth", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpText, true, 0, []byte(`{"event":"pusher:subscribe","data":{"channel":"private-soak","auth":"soak-key:0000000000000000000000000000000000000000000000000000000000000000"}}`), m)
	}, answer: func(p *pusherFrame) bool {
		// pusher-js's shape for a refused private subscription.
		return p.Event == "pusher:subscription_error" && p.Channel == "private-soak" &&
			strings.Contains(p.dataString(), `"type":"AuthError"`) && strings.Contains(p.dataString(), `"status":401`)
	}},
	{name: "binary", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpBinary, true, 0, []byte(`{"event":"pusher:ping","data":{}}`), m)
	}, closeCodes: []int{1003}},
	{name: "oversized", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpText, true, 0, oversizedPayload(), m)
	}, closeCodes: []int{1009}},
	{name: "unmasked", build: func([4]byte) []byte {
		return unmaskedFrame(ws.OpText, []byte(`{"event":"pusher:ping","data":{}}`))
	}, closeCodes: []int{1002}},
	{name: "reserved-bits", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpText, true, ws.Rsv(true, false, false), []byte(`{"event":"pusher:ping","data":{}}`), m)
	}, closeCodes: []int{1002}},
	// A reserved data opcode (0x3) fails the connection (RFC 6455 §5.2).
	{name: "bad-opcode", build: func(m [4]byte) []byte {
		return maskedFrame(ws.OpCode(0x3), true, 0, []byte("?"), m)
	}, closeCodes: []int{1002}},
	{name: "garbage", build: func([4]byte) []byte {
		b := make([]byte, 512)
		_, _ = rand.Read(b)
		return append([]byte("\x00\x01 this is not a websocket frame \r\n\r\n"), b...)
	}, halfClose: true},
}

// oversizedPayload is a valid JSON text one byte over the message limit.
func oversizedPayload() []byte {
	head, tail := `{"event":"pusher:ping","data":{"p":"`, `"}}`
	return []byte(head + strings.Repeat("x", maxMessage+1-len(head)-len(tail)) + tail)
}

// malformedStats counts outcomes per kind.
type malformedStats struct {
	mu       sync.Mutex
	ok       map[string]int
	bad      map[string]int
	refused  atomic.Int64 // upgrade refused with 503 (during the flood)
	dialErr  atomic.Int64
	firstBad string
	codes    map[string]map[int]int // close codes seen per kind
}

func newMalformedStats() *malformedStats {
	return &malformedStats{ok: map[string]int{}, bad: map[string]int{}, codes: map[string]map[int]int{}}
}

func (s *malformedStats) record(kind string, code int, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code != 0 {
		if s.codes[kind] == nil {
			s.codes[kind] = map[int]int{}
		}
		s.codes[kind][code]++
	}
	if why == "" {
		s.ok[kind]++
		return
	}
	s.bad[kind]++
	if s.firstBad == "" {
		s.firstBad = kind + ": " + why
	}
}

// runMalformed opens perSecond misbehaving connections per second, cycling
// through the kinds, until ctx ends; it returns once all have finished.
func runMalformed(ctx context.Context, wsURL string, perSecond int, st *malformedStats) {
	if perSecond <= 0 {
		return
	}
	var wg sync.WaitGroup
	tk := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tk.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tk.C:
		}
		k := malformedKinds[i%len(malformedKinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			oneMalformed(wsURL, k, st)
		}()
	}
}

// oneMalformed runs one misbehaving connection; the answer must come
// within 5 s.
func oneMalformed(wsURL string, k malformedKind, st *malformedStats) {
	c, err := rawDial(context.Background(), wsURL, 0, 5*time.Second)
	if err != nil {
		if statusCode(err) == 503 {
			st.refused.Add(1)
		} else {
			st.dialErr.Add(1)
			st.record(k.name, 0, "dial: "+err.Error())
		}
		return
	}
	defer c.nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	if _, err := c.expectEvent("pusher:connection_established", deadline); err != nil {
		st.record(k.name, 0, "connection_established: "+err.Error())
		return
	}
	if err := c.write(k.build(ws.NewMask())); err != nil {
		st.record(k.name, 0, "write: "+err.Error())
		return
	}
	if k.halfClose {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		p, err := c.nextPusher(deadline)
		code, isClose := asClose(err)
		switch {
		case err == nil && k.answer != nil && k.answer(p):
			c.closeClean()
			st.record(k.name, 0, "")
			return
		case err == nil:
			continue // e.g. pusher:error before a 4xxx close; the close decides
		case k.halfClose && !isTimeout(err):
			st.record(k.name, code, "") // the server ended the socket
			return
		case isClose && slices.Contains(k.closeCodes, code):
			st.record(k.name, code, "")
			return
		case isClose:
			st.record(k.name, code, fmt.Sprintf("close %d, want %v", code, k.closeCodes))
			return
		default:
			want := fmt.Sprint("close ", k.closeCodes)
			if k.answer != nil {
				want = "the documented answer frame"
			}
			st.record(k.name, 0, fmt.Sprintf("%v within 5 s, want %s", err, want))
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
