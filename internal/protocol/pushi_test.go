package protocol

import (
	"strings"
	"testing"
)

func TestPeerChannel(t *testing.T) {
	cases := []struct {
		presence, a, b string
		want           string // "" = no peer channel
	}{
		{"presence-chat", "bob", "alice", "peer-chat:alice&bob"},
		{"presence-chat", "alice", "bob", "peer-chat:alice&bob"},
		{"presence-cache-chat", "2", "10", "peer-cache-chat:10&2"}, // byte order, not numeric
		{"presence-chat", "a", "a", ""},
		{"presence-chat", "a b", "c", ""},
		{"presence-chat", "a&b", "c", ""},
		{"presence-chat", "a:b", "c", ""},
		{"private-chat", "a", "b", ""},
		{"presence-", "a", "b", ""},
		{"presence-" + strings.Repeat("x", 180), "a" + strings.Repeat("y", 10), "b" + strings.Repeat("y", 10), ""}, // 5+180+1+11+1+11 > 200
	}
	for _, tc := range cases {
		got, ok := PeerChannel(tc.presence, tc.a, tc.b, 200)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("PeerChannel(%q, %q, %q) = %q %v, want %q", tc.presence, tc.a, tc.b, got, ok, tc.want)
		}
		if ok {
			// Every produced name is a valid channel name of kind Peer and parses back.
			ch, err := ParseChannel(got, 200)
			if err != nil || ch.Kind != Peer {
				t.Errorf("%q: ParseChannel = %+v %v", got, ch, err)
			}
			p, x, y, ok := ParsePeerChannel(got)
			if !ok || p != tc.presence || x+"&"+y != got[strings.IndexByte(got, ':')+1:] {
				t.Errorf("ParsePeerChannel(%q) = %q %q %q %v", got, p, x, y, ok)
			}
		}
	}
}

func TestParsePeerChannelRefusesNonCanonical(t *testing.T) {
	for _, name := range []string{
		"peer-chat:bob&alice", // not sorted
		"peer-chat:a&a",
		"peer-chat:a&",
		"peer-chat:&a",
		"peer-chat:a",
		"peer-chat",
		"peer-:a&b",
		"peer-chat:a&b&c",
		"peer-chat:x:a&b",
		"peer-ch&at:a&b",
		"chat:a&b",
	} {
		if p, x, y, ok := ParsePeerChannel(name); ok {
			t.Errorf("ParsePeerChannel(%q) accepted: %q %q %q", name, p, x, y)
		}
	}
}
