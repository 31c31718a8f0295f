package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.255.0.9", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "100.127.255.254", "169.254.169.254", "169.254.0.1", "224.0.0.1", "239.255.255.250",
		"255.255.255.255", "240.0.0.1", "192.0.0.8", "198.18.0.1",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "ff02::1", "100::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.2.3", "::ffff:0.0.0.0", "::127.0.0.1",
		"64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",
	}
	for _, s := range refused {
		var re *RefusedError
		if err := Check(netip.MustParseAddr(s)); !errors.As(err, &re) || re.Reason == "" {
			t.Errorf("%s: %v, want refused", s, err)
		}
	}
	allowed := []string{
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
		"169.253.255.255", "192.169.0.1", "223.255.255.255", "11.0.0.1",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
	}
	for _, s := range allowed {
		if err := Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v, want allowed", s, err)
		}
	}
	if Check(netip.Addr{}) == nil {
		t.Error("the zero Addr is allowed")
	}
}

func TestControl(t *testing.T) {
	for addr, ok := range map[string]bool{
		"8.8.8.8:443": true, "[2001:4860:4860::8888]:443": true,
		"127.0.0.1:80": false, "[::1]:80": false, "[fe80::1%lo]:80": false, "169.254.169.254:80": false,
		"not-an-address": false, "example.com:80": false,
	} {
		if err := Control("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("Control(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
}

// TestDialerRefusesBeforeConnecting: a listener on loopback sees no
// connection, the error says why, and the base dialer's own Control is
// not reached.
func TestDialerRefusesBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	called := 0
	d := Dialer(net.Dialer{Timeout: time.Second, Control: func(string, string, syscall.RawConn) error { called++; return nil }})
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != "loopback" || re.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("dial: %v, want refused as loopback", err)
	}
	if called != 0 {
		t.Fatal("the base Control ran for a refused address")
	}
	select {
	case <-accepted:
		t.Fatal("the listener accepted a connection")
	case <-time.After(100 * time.Millisecond):
	}
	// Names are resolved first, then checked: localhost is refused too.
	if _, err := d.DialContext(context.Background(), "tcp", "localhost:"+portOf(ln)); !errors.As(err, &re) {
		t.Fatalf("dial localhost: %v, want refused", err)
	}
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}
