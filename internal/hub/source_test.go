package hub

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestSourceKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"192.0.2.7:5000", "", nil, "192.0.2.7"},
		{"192.0.2.7:5000", "198.51.100.1", nil, "192.0.2.7"},                          // XFF from an untrusted peer is ignored
		{"192.0.2.7:5000", "198.51.100.1", trusted, "192.0.2.7"},                      // the peer is not a trusted proxy
		{"10.1.2.3:5000", "198.51.100.1", trusted, "198.51.100.1"},                    // one trusted proxy
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.1, 10.9.9.9", trusted, "198.51.100.1"}, // the client cannot spoof past the last untrusted hop
		{"10.1.2.3:5000", "garbage", trusted, "10.1.2.3"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.9]:443", "", nil, "192.0.2.9"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := sourceKey(r, tc.trusted); got != tc.want {
			t.Errorf("%s xff %q: %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}
