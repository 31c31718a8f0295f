package protocol

import "strings"

// Prefixes of pushi's own channel types (docs/features.md §3, §4).
const (
	PersonalPrefix = "personal-"
	PeerPrefix     = "peer-"
	PresencePrefix = "presence-"
)

// PeerChannel names the peer channel of users a and b in presence channel
// presence (docs/features.md §4): peer-<base>:<x>&<y> with the ids byte-sorted.
// ok is false when a and b are the same user, an id falls outside the
// channel-name alphabet, or the name would exceed maxLen: that pair gets
// no peer channel.
func PeerChannel(presence, a, b string, maxLen int) (name string, ok bool) {
	base, found := strings.CutPrefix(presence, PresencePrefix)
	if !found || base == "" || a == b || !isAlphabet(a) || !isAlphabet(b) {
		return "", false
	}
	if b < a {
		a, b = b, a
	}
	name = PeerPrefix + base + ":" + a + "&" + b
	if len(name) > maxLen {
		return "", false
	}
	return name, true
}

// ParsePeerChannel splits a canonical peer channel name into its presence
// channel and the two user ids (x < y). Names PeerChannel cannot produce
// are refused, so eligibility checks never match a look-alike.
func ParsePeerChannel(name string) (presence, x, y string, ok bool) {
	rest, found := strings.CutPrefix(name, PeerPrefix)
	if !found {
		return "", "", "", false
	}
	base, pair, found := strings.Cut(rest, ":")
	if !found || base == "" || !isAlphabet(base) {
		return "", "", "", false
	}
	x, y, found = strings.Cut(pair, "&")
	if !found || !isAlphabet(x) || !isAlphabet(y) || x >= y {
		return "", "", "", false
	}
	return PresencePrefix + base, x, y, true
}

// isAlphabet reports a non-empty string of channel-name characters.
func isAlphabet(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsNameChar(s[i]) {
			return false
		}
	}
	return true
}
