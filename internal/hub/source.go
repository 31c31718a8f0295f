package hub

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// sourceKey names the source of a connection attempt for the per-address
// connection-rate share: the peer address, or, when the peer is a trusted
// reverse proxy, the last X-Forwarded-For entry that is not one. IPv6
// sources are grouped by /64, the block one subscriber usually holds.
func sourceKey(r *http.Request, trusted []netip.Prefix) string {
	addr := peerAddr(r.RemoteAddr)
	if len(trusted) > 0 && isTrusted(addr, trusted) {
		hops := r.Header.Values("X-Forwarded-For")
	walk:
		for i := len(hops) - 1; i >= 0; i-- {
			parts := strings.Split(hops[i], ",")
			for j := len(parts) - 1; j >= 0; j-- {
				hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
				if err != nil {
					break walk // a garbled entry: trust what we have
				}
				addr = hop.Unmap()
				if !isTrusted(addr, trusted) {
					break walk
				}
			}
		}
	}
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
