package pushi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"golang.org/x/crypto/nacl/secretbox"
)

// channelAuth is the body an authorization endpoint returns to pusher-js.
type channelAuth struct {
	Auth         string `json:"auth"`
	ChannelData  string `json:"channel_data,omitempty"`
	SharedSecret string `json:"shared_secret,omitempty"`
}

// AuthorizeChannel returns the JSON body with which an authorization endpoint
// answers pusher-js for a private-, private-encrypted- or presence- channel
// (or a personal- channel): {"auth": ..., "channel_data"?: ..., "shared_secret"?: ...}.
//
// member is required for a classic presence subscription and becomes its
// channel_data; with nil the signature has the private form, which the server
// accepts for presence only from a signed-in socket (pusher-js >= 7.4).
// private-encrypted- channels need WithEncryptionMasterKey.
func (c *Client) AuthorizeChannel(socketID, channel string, member *Member) ([]byte, error) {
	if err := validSocketID(socketID); err != nil {
		return nil, err
	}
	if err := validChannelName(channel); err != nil {
		return nil, err
	}
	var out channelAuth
	if member != nil {
		if member.UserID == "" {
			return nil, invalid("member", "user id is empty")
		}
		data, err := marshal(member)
		if err != nil {
			return nil, invalid("member", "cannot encode as JSON: %v", err)
		}
		out.ChannelData = string(data)
	}
	if isEncrypted(channel) {
		secret, err := c.sharedSecret(channel)
		if err != nil {
			return nil, err
		}
		out.SharedSecret = secret
	}
	out.Auth = c.key + ":" + channelSignature(c.secret, socketID, channel, out.ChannelData)
	return marshal(out)
}

// channelSignature signs "<socket_id>:<channel>[:<channel_data>]" (§7.2, §7.3).
func channelSignature(secret, socketID, channel, channelData string) string {
	msg := socketID + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	return hmacHex(secret, msg)
}

// encrypt seals data for an encrypted channel with NaCl secretbox under the
// channel's shared secret and a random nonce, in the envelope pusher-js
// decrypts: {"nonce":base64,"ciphertext":base64}.
func (c *Client) encrypt(channel, data string) (string, error) {
	secret, err := c.sharedSecret(channel)
	if err != nil {
		return "", err
	}
	var key [32]byte
	raw, _ := base64.StdEncoding.DecodeString(secret)
	copy(key[:], raw)
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	box := secretbox.Seal(nil, []byte(data), &nonce, &key)
	env, err := json.Marshal(map[string]string{
		"nonce":      base64.StdEncoding.EncodeToString(nonce[:]),
		"ciphertext": base64.StdEncoding.EncodeToString(box),
	})
	return string(env), err
}

// sharedSecret derives a channel's decryption key as every official SDK does:
// base64(SHA-256(channel name bytes || master key bytes)). The server never
// sees it; only the authorized subscriber does.
func (c *Client) sharedSecret(channel string) (string, error) {
	if c.masterKeyErr != nil {
		return "", c.masterKeyErr
	}
	if c.masterKey == nil {
		return "", invalid("encryption master key", "%q is end-to-end encrypted: configure WithEncryptionMasterKey", channel)
	}
	sum := sha256.Sum256(append([]byte(channel), c.masterKey...))
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// AuthenticateUser returns the JSON body {"auth": ..., "user_data": ...} with
// which a user-authentication endpoint answers pusher-js signin().
func (c *Client) AuthenticateUser(socketID string, user User) ([]byte, error) {
	if err := validSocketID(socketID); err != nil {
		return nil, err
	}
	if err := validUserID(user.ID); err != nil {
		return nil, err
	}
	data, err := marshal(user)
	if err != nil {
		return nil, invalid("user", "cannot encode as JSON: %v", err)
	}
	userData := string(data)
	return marshal(struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}{c.key + ":" + hmacHex(c.secret, socketID+"::user::"+userData), userData})
}
