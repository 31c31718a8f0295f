package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

// joiningMember is the presence identity a subscribe carries.
type joiningMember struct {
	userID string          // string form, the member key
	rawID  json.RawMessage // JSON type as first supplied
	info   json.RawMessage // compact object, {} when absent
	peer   bool            // signed channel_data carries "peer": true
}

// authorize checks a subscribe against the channel type's rules
// (docs/protocol.md §7, docs/features.md §3–4). Signatures are verified before anything
// is parsed or looked up, so an unauthenticated probe learns nothing.
func (n *Node) authorize(c *Conn, ch protocol.Channel, auth, channelData string, hasChannelData bool) (*joiningMember, *subError) {
	app := c.settings()
	secrets := app.Secrets(time.Now())
	switch ch.Kind {
	case protocol.Public:
		return nil, nil
	case protocol.Private, protocol.Encrypted:
		if !protocol.VerifyAuth(auth, app.Key, protocol.ChannelAuthMessage(c.socketID, ch.Name, ""), secrets) {
			return nil, errNotSigned
		}
		return nil, nil
	case protocol.Presence:
		if !hasChannelData {
			// Signin-derived presence (pusher-js ≥ 7.4): private-form auth
			// and the identity of the signed-in user.
			c.mu.Lock()
			userID, info := c.userID, c.userInfo
			c.mu.Unlock()
			if userID == "" {
				return nil, invalidData("channel_data is required on a socket that is not signed in")
			}
			if !protocol.VerifyAuth(auth, app.Key, protocol.ChannelAuthMessage(c.socketID, ch.Name, ""), secrets) {
				return nil, errNotSigned
			}
			if serr := checkInfoSize(info, app.Limits.PresenceMaxUserInfoBytes); serr != nil {
				return nil, serr
			}
			raw, _ := json.Marshal(userID)
			return &joiningMember{userID: userID, rawID: raw, info: info}, nil
		}
		if !protocol.VerifyAuth(auth, app.Key, protocol.ChannelAuthMessage(c.socketID, ch.Name, channelData), secrets) {
			return nil, errNotSigned
		}
		return parseMember(channelData, app.Limits.PresenceMaxUserIDLength, app.Limits.PresenceMaxUserInfoBytes)
	case protocol.ServerToUser:
		c.mu.Lock()
		userID := c.userID
		c.mu.Unlock()
		if userID == "" || userID != strings.TrimPrefix(ch.Name, protocol.ServerToUserPrefix) {
			return nil, forbidden("Socket is not signed in as this user")
		}
		return nil, nil
	case protocol.Personal:
		// The identity joins followed presence channels; it is not a member
		// of the personal channel itself.
		return authorizePersonal(c, ch, auth, channelData, hasChannelData, secrets)
	case protocol.Peer:
		// auth is ignored; eligibility rests on the socket's presence
		// membership and is checked under c.mu (peer.go).
		return nil, nil
	}
	return nil, forbidden("Unknown channel type")
}

// parseMember parses verified channel_data and applies the presence limits
// in the order of docs/protocol.md §7.3.
func parseMember(channelData string, maxIDLen, maxInfoBytes int) (*joiningMember, *subError) {
	// Exact keys: the backend signed what its own JSON parser read.
	obj, err := protocol.SignedObject([]byte(channelData), "user_id", "user_info", "peer")
	if errors.Is(err, protocol.ErrAmbiguousKey) {
		return nil, invalidData("channel_data has a repeated key or a case variant of user_id, user_info or peer")
	}
	if err != nil {
		return nil, invalidData("channel_data is not a JSON object")
	}
	cd := struct{ UserID, UserInfo, Peer json.RawMessage }{obj["user_id"], obj["user_info"], obj["peer"]}
	// Only a literal true opts in to peer channels (docs/features.md §4).
	m := &joiningMember{peer: string(cd.Peer) == "true"}
	switch {
	case len(cd.UserID) > 0 && cd.UserID[0] == '"':
		if err := json.Unmarshal(cd.UserID, &m.userID); err != nil || m.userID == "" {
			return nil, invalidData("channel_data.user_id must be a non-empty string or an integer")
		}
		m.rawID = protocol.AppendString(nil, m.userID)
	case len(cd.UserID) > 0 && isJSONInteger(cd.UserID):
		m.userID = string(cd.UserID)
		m.rawID = cd.UserID
	default:
		return nil, invalidData("channel_data.user_id must be a non-empty string or an integer")
	}
	if len(m.userID) > maxIDLen {
		return nil, &subError{"LimitReached", "user_id is too long", 4301}
	}
	if len(cd.UserInfo) == 0 || string(cd.UserInfo) == "null" {
		m.info = json.RawMessage("{}")
	} else {
		if cd.UserInfo[0] != '{' {
			return nil, invalidData("channel_data.user_info must be an object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, cd.UserInfo); err != nil {
			return nil, invalidData("channel_data.user_info is not valid JSON")
		}
		m.info = buf.Bytes()
	}
	if serr := checkInfoSize(m.info, maxInfoBytes); serr != nil {
		return nil, serr
	}
	return m, nil
}

// checkInfoSize applies presence_max_user_info_bytes to a presence
// identity, whatever its source: channel_data, or the signed-in user's
// user_info (signin-derived presence, personal channels), which signin
// itself does not limit.
func checkInfoSize(info []byte, maxInfoBytes int) *subError {
	if len(info) > maxInfoBytes {
		return &subError{"LimitReached", "user_info is too large", 4301}
	}
	return nil
}

func isJSONInteger(b []byte) bool {
	i := 0
	if b[0] == '-' {
		i = 1
	}
	if i == len(b) {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}
