package pushi

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits the server applies by default and the official SDKs check too (§6, §14.2).
const (
	maxNameLength       = 200
	maxEventNameLength  = 200
	maxTriggerChannels  = 100
	maxBatchEvents      = 10
	maxUserIDLength     = 128
	serverToUserPrefix  = "#server-to-user-"
	encryptedPrefix     = "private-encrypted-"
	presencePrefix      = "presence-"
	presenceCachePrefix = "presence-cache-"
)

var (
	channelAlphabet = regexp.MustCompile(`^[A-Za-z0-9_\-=@,.;]+$`)
	// peer- names join two user ids with ':' and '&' (docs/features.md §4).
	peerAlphabet = regexp.MustCompile(`^[A-Za-z0-9_\-=@,.;:&]+$`)
	socketIDRe   = regexp.MustCompile(`^\d+\.\d+$`)
)

var reservedEventPrefixes = []string{"pusher:", "pusher_internal:", "pushi:", "pushi_internal:"}

func validChannelName(name string) error {
	if name == "" || len(name) > maxNameLength {
		return invalid("channel", "%q must be 1..%d characters", name, maxNameLength)
	}
	switch {
	case strings.HasPrefix(name, serverToUserPrefix):
		if validUserID(strings.TrimPrefix(name, serverToUserPrefix)) == nil {
			return nil
		}
	case strings.HasPrefix(name, "peer-"):
		if peerAlphabet.MatchString(name) {
			return nil
		}
	case channelAlphabet.MatchString(name):
		return nil
	}
	return invalid("channel", "%q has characters outside [A-Za-z0-9_-=@,.;]", name)
}

func validUserID(id string) error {
	if id == "" || len(id) > maxUserIDLength || !channelAlphabet.MatchString(id) {
		return invalid("user id", "%q must be 1..%d characters of [A-Za-z0-9_-=@,.;]", id, maxUserIDLength)
	}
	return nil
}

func validEventName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxEventNameLength {
		return invalid("event name", "%q must be 1..%d characters", name, maxEventNameLength)
	}
	for _, p := range reservedEventPrefixes {
		if strings.HasPrefix(name, p) {
			return invalid("event name", "%q uses the reserved prefix %q", name, p)
		}
	}
	return nil
}

func validSocketID(id string) error {
	if !socketIDRe.MatchString(id) {
		return invalid("socket_id", "%q does not match ^\\d+\\.\\d+$", id)
	}
	return nil
}

func isPresence(channel string) bool  { return strings.HasPrefix(channel, presencePrefix) }
func isEncrypted(channel string) bool { return strings.HasPrefix(channel, encryptedPrefix) }

func isCache(channel string) bool {
	for _, p := range []string{"private-encrypted-cache-", "private-cache-", presenceCachePrefix, "cache-"} {
		if strings.HasPrefix(channel, p) {
			return true
		}
	}
	return false
}

// isEnvelope reports whether data already is the {"nonce","ciphertext"}
// envelope pusher-js decrypts; anything else on an encrypted channel would be
// dropped by every subscriber.
func isEnvelope(data string) bool {
	var e struct {
		Nonce      *string `json:"nonce"`
		Ciphertext *string `json:"ciphertext"`
	}
	return json.Unmarshal([]byte(data), &e) == nil && e.Nonce != nil && e.Ciphertext != nil
}
