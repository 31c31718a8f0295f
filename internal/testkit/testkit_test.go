package testkit

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/signature"
)

// fatalTB records a Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	start := time.Now()
	polls := 0
	Eventually(t, 5*time.Second, "the third poll", func() bool { polls++; return polls == 3 })
	if polls != 3 || time.Since(start) > time.Second {
		t.Fatalf("%d polls in %v", polls, time.Since(start))
	}

	f := &fatalTB{}
	done := make(chan struct{})
	start = time.Now()
	polls = 0
	go func() {
		defer close(done)
		Eventually(f, 200*time.Millisecond, "nothing", func() bool { polls++; return false })
	}()
	<-done
	took := time.Since(start)
	if f.msg != "timed out after 200ms waiting for nothing" {
		t.Fatalf("failure %q", f.msg)
	}
	// Polled up to the deadline (not stopped a pause short of it), and
	// not spun: back-off to 50 ms allows about a dozen polls, fewer on a
	// loaded machine whose sleeps overrun.
	if took < 200*time.Millisecond || polls < 2 || polls > 30 {
		t.Fatalf("gave up after %v and %d polls", took, polls)
	}
}

// What SignedQuery and Signature build passes the server's verifier.
func TestSignedRequestsVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"name":"e","channel":"c","data":"x"}`)
	verify := func(method, raw string, body []byte, secret string) error {
		return signature.Verify(signature.Request{Method: method, Paths: []string{"/apps/1/events"}, RawQuery: raw, Body: body}, "k", []string{secret}, now)
	}
	q := SignedQuery("POST", "/apps/1/events", "k", "s", url.Values{"x": {"1"}}, body, now)
	if err := verify("POST", q.Encode(), body, "s"); err != nil || q.Get("x") != "1" || q.Get("body_md5") == "" {
		t.Fatalf("signed POST %s: %v", q.Encode(), err)
	}
	if err := verify("POST", SignedQuery("POST", "/apps/1/events", "k", "wrong", nil, body, now).Encode(), body, "s"); err == nil {
		t.Fatal("a wrong secret verified")
	}
	if q := SignedQuery("GET", "/apps/1/events", "k", "s", nil, nil, now); q.Has("body_md5") || verify("GET", q.Encode(), nil, "s") != nil {
		t.Fatalf("signed GET %s", q.Encode())
	}
	// A raw query in another order and escaping, signed as sent.
	raw := "li%6Dit=1&" + AuthParams("k", now, nil).Encode()
	raw += "&auth_signature=" + Signature("s", "GET", "/apps/1/events", raw)
	if err := verify("GET", raw, nil, "s"); err != nil {
		t.Fatalf("raw %s: %v", raw, err)
	}
	if target := SignedTarget("GET", "/apps/1/channels", "k", "s", nil, nil); !strings.HasPrefix(target, "/apps/1/channels?auth_key=k&") {
		t.Fatalf("target %s", target)
	}
}

func TestProxyCutAndResume(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := StartProxy(t, ln.Addr().String())
	echo := func() (net.Conn, error) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hi")); err != nil {
			return c, err
		}
		b := make([]byte, 2)
		_, err = io.ReadFull(c, b)
		return c, err
	}
	c, err := echo()
	if err != nil {
		t.Fatal("through the proxy:", err)
	}
	p.Cut()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection outlived the cut")
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Fatal("the proxy accepts while cut")
	}
	p.Resume()
	if _, err := echo(); err != nil {
		t.Fatal("after resume:", err)
	}
}
