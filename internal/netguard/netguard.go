// Package netguard refuses outbound connections to internal addresses:
// loopback, private and shared ranges, link-local (the cloud metadata
// service at 169.254.169.254 among them), unspecified, multicast and
// reserved ones, in IPv4, IPv6 and IPv4-in-IPv6 forms.
//
// The check runs at dial time, on the address actually connected after
// name resolution (net.Dialer.Control), so a name that resolves to an
// internal address, or is rebound to one after a first check (DNS
// rebinding), is refused as well. Every outbound delivery of pushi (protocol
// webhooks now; web hooks, Web Push, SMTP and APNs later) dials through
// it unless its app explicitly allows private targets.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// RefusedError is a connection refused by the guard.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // e.g. "loopback", "private (RFC 1918)"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("netguard: %s is %s, not an allowed destination", e.Addr, e.Reason)
}

type blocked struct {
	prefix netip.Prefix
	reason string
}

var blockedRanges = func() []blocked {
	var out []blocked
	for _, r := range []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified (this network)"}, // Linux connects 0.0.0.0 to the local host
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (cloud metadata)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking (RFC 2544)"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved or broadcast"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible (deprecated)"},
		{"100::/64", "discard-only"},
		{"fc00::/7", "unique local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"ff00::/8", "multicast"},
	} {
		out = append(out, blocked{netip.MustParsePrefix(r.cidr), r.reason})
	}
	return out
}()

// nat64 is the well-known NAT64 prefix (RFC 6052): the IPv4 address in
// its last 32 bits is what a NAT64 gateway connects to.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Check returns a *RefusedError when ip is not a public unicast address,
// nil when it may be connected to.
func Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return &RefusedError{Addr: ip, Reason: "not an IP address"}
	}
	ip = ip.WithZone("") // Prefix.Contains is false for any zoned address
	inner := ip
	switch {
	case ip.Is4In6():
		inner = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	case nat64.Contains(ip):
		b := ip.As16()
		inner = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, b := range blockedRanges {
		if b.prefix.Contains(inner) || b.prefix.Contains(ip) {
			return &RefusedError{Addr: ip, Reason: b.reason}
		}
	}
	return nil
}

// Control is a net.Dialer.Control that refuses internal addresses. It
// runs for every address a dial tries (each Happy Eyeballs attempt too),
// after resolution and before connect.
func Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP and port: fail closed rather than connect unchecked.
		return &RefusedError{Reason: "not an IP address (" + network + ")"}
	}
	return Check(ap.Addr())
}

// Dialer returns a copy of base that refuses internal addresses before
// base's own Control or ControlContext, if any, runs.
func Dialer(base net.Dialer) *net.Dialer {
	prev, prevCtx := base.Control, base.ControlContext
	base.Control = nil
	base.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := Control(network, address, c); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return &base
}
