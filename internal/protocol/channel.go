// Package protocol holds the Pusher protocol 7 rules that do not depend on
// connection state: channel names and types, frame decoding and encoding,
// signatures, socket ids and the close/error codes.
package protocol

import (
	"errors"
	"strings"
)

// Kind is a channel's type, decided by an anchored prefix test (docs/protocol.md §6).
type Kind uint8

const (
	Public Kind = iota
	Private
	Encrypted
	Presence
	ServerToUser
	Personal
	Peer
)

func (k Kind) String() string {
	switch k {
	case Private:
		return "private"
	case Encrypted:
		return "encrypted"
	case Presence:
		return "presence"
	case ServerToUser:
		return "server-to-user"
	case Personal:
		return "personal"
	case Peer:
		return "peer"
	}
	return "public"
}

// NeedsSignature reports whether subscribing requires an HMAC auth string.
func (k Kind) NeedsSignature() bool { return k == Private || k == Encrypted || k == Presence }

// AllowsClientEvents follows docs/protocol.md §8 rule 3.
func (k Kind) AllowsClientEvents() bool { return k == Private || k == Presence || k == Peer }

// Channel is a classified channel name.
type Channel struct {
	Name  string
	Kind  Kind
	Cache bool
}

const ServerToUserPrefix = "#server-to-user-"

// prefixes in the order of docs/protocol.md §6: first match wins.
var prefixes = []struct {
	prefix string
	kind   Kind
	cache  bool
}{
	{"private-encrypted-cache-", Encrypted, true},
	{"private-encrypted-", Encrypted, false},
	{"private-cache-", Private, true},
	{"private-", Private, false},
	{"presence-cache-", Presence, true},
	{"presence-", Presence, false},
	{"cache-", Public, true},
	{ServerToUserPrefix, ServerToUser, false},
	{"personal-", Personal, false},
	{"peer-", Peer, false},
}

var (
	ErrChannelEmpty   = errors.New("channel name is empty")
	ErrChannelTooLong = errors.New("channel name is too long")
	ErrChannelChars   = errors.New("channel name contains invalid characters")
)

// ParseChannel classifies name and checks its length and alphabet.
func ParseChannel(name string, maxLen int) (Channel, error) {
	if name == "" {
		return Channel{}, ErrChannelEmpty
	}
	if len(name) > maxLen {
		return Channel{}, ErrChannelTooLong
	}
	ch := Channel{Name: name, Kind: Public}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) {
			ch.Kind, ch.Cache = p.kind, p.cache
			break
		}
	}
	rest := name
	allowPeerChars := false
	switch ch.Kind {
	case ServerToUser:
		rest = name[len(ServerToUserPrefix):]
		if rest == "" {
			return Channel{}, ErrChannelChars
		}
	case Peer:
		allowPeerChars = true
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if IsNameChar(c) || (allowPeerChars && (c == ':' || c == '&')) {
			continue
		}
		return Channel{}, ErrChannelChars
	}
	return ch, nil
}

// IsNameChar reports whether c is in the channel-name alphabet [A-Za-z0-9_\-=@,.;].
func IsNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}

// IsValidUserID checks a signed-in user id: non-empty, at most maxLen, channel alphabet.
func IsValidUserID(id string, maxLen int) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !IsNameChar(id[i]) {
			return false
		}
	}
	return true
}

// reservedEventPrefixes may only be emitted by the server (docs/protocol.md §5).
var reservedEventPrefixes = []string{"pusher:", "pusher_internal:", "pushi:", "pushi_internal:"}

// IsReservedEvent reports whether name belongs to the server's namespaces.
func IsReservedEvent(name string) bool {
	for _, p := range reservedEventPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
