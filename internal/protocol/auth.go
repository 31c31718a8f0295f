package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Sign returns the lowercase hex HMAC-SHA256 of message under secret.
func Sign(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature compares a hex signature with the HMAC of message under
// each secret, in constant time per secret (several secrets during a rotation).
func VerifySignature(signature, message string, secrets []string) bool {
	got, err := hex.DecodeString(strings.ToLower(signature))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(message))
		if hmac.Equal(got, m.Sum(nil)) {
			ok = true
		}
	}
	return ok
}

// VerifyAuth checks a "<key>:<hex signature>" auth string for message.
func VerifyAuth(auth, key, message string, secrets []string) bool {
	k, sig, found := strings.Cut(auth, ":")
	if !found || k != key {
		return false
	}
	return VerifySignature(sig, message, secrets)
}

// ChannelAuthMessage is the string signed for private and presence channels.
func ChannelAuthMessage(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

// SigninMessage is the string signed for pusher:signin.
func SigninMessage(socketID, userData string) string {
	return socketID + "::user::" + userData
}
