package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// A scripted server: connection_established, a fragmented event, a WebSocket
// ping and a pusher:ping (both must be answered), then close 4201.
func TestConnAgainstScriptedServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		serverErr <- scriptedServer(ln)
	}()

	d := NewDialer("ws://"+ln.Addr().String(), "app-key", nil, 2*time.Second)
	c, err := d.Dial(context.Background())
	if err != nil {
		t.Fatalf(
			"Dial: %v",
			err)
	}
	if c.SocketID != "1.2" {
		t.Errorf(
			"socket id %q",
			c.SocketID)
	}
	msg, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(EventName(msg)) != "bench" {
		t.Fatalf(
			"fragmented message reassembled as %q",
			msg)
	}
	if v, ok := scanInt(msg, "bench_s"); !ok || v != 9 {
		t.Errorf(
			"bench_s = %d %v",
			v, ok)
	}
	msg, err = c.Next() // the WebSocket ping is answered inside Next
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(EventName(msg), evPing) {
		t.Fatalf(
			"expected pusher:ping, got %q",
			msg)
	}
	if err := c.Pong(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Next()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4201 {
		t.Fatalf(
			"expected close 4201, got %v",
			err)
	}
	if err := <-serverErr; err != nil {
		t.Fatal(err)
	}
}

func scriptedServer(ln net.Listener) error {
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	u := ws.Upgrader{}
	if _, err := u.Upgrade(nc); err != nil {
		return err
	}
	w := func(f ws.Frame) error { return ws.WriteFrame(nc, f) }
	if err := w(ws.NewTextFrame([]byte(`{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}`))); err != nil {
		return err
	}
	ev := []byte(`{"event":"bench","channel":"c","data":"{\"bench_t\":1,\"bench_s\":9,\"bench_r\":0}"}`)
	if err := w(ws.NewFrame(ws.OpText, false, ev[:10])); err != nil {
		return err
	}
	if err := w(ws.NewPingFrame([]byte("hi"))); err != nil {
		return err
	}
	if err := w(ws.NewFrame(ws.OpContinuation, true, ev[10:])); err != nil {
		return err
	}
	if err := w(ws.NewTextFrame([]byte(`{"event":"pusher:ping","data":"{}"}`))); err != nil {
		return err
	}
	// Expect the pong control frame, then pusher:pong.
	_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	h, err := ws.ReadHeader(nc)
	if err != nil {
		return err
	}
	if h.Length > 125 {
		return errors.New("control frame too long")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(nc, p); err != nil {
		return err
	}
	ws.Cipher(p, h.Mask, 0)
	if h.OpCode != ws.OpPong || string(p) != "hi" {
		return errors.New("no pong for the WebSocket ping")
	}
	msg, err := wsutil.ReadClientText(nc)
	if err != nil {
		return err
	}
	if string(msg) != `{"event":"pusher:pong","data":{}}` {
		return errors.New("unexpected pong message: " + string(msg))
	}
	return w(ws.NewCloseFrame(ws.NewCloseFrameBody(4201, "Pong reply not received")))
}
