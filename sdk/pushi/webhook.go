package pushi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// VerifyWebhook checks that a webhook request comes from this app's server
// (X-Pusher-Key is the app key and X-Pusher-Signature is the HMAC-SHA256 of
// the exact body) and returns its parsed body. body must be the raw bytes
// read from the request, before any JSON decoding. Every error wraps
// ErrInvalidWebhook.
func (c *Client) VerifyWebhook(header http.Header, body []byte) (*Webhook, error) {
	key := header.Get("X-Pusher-Key")
	if key == "" || !hmac.Equal([]byte(key), []byte(c.key)) {
		return nil, fmt.Errorf("%w: X-Pusher-Key %q is not this app's key", ErrInvalidWebhook, key)
	}
	got, err := hex.DecodeString(strings.TrimSpace(header.Get("X-Pusher-Signature")))
	if err != nil || len(got) == 0 {
		return nil, fmt.Errorf("%w: missing or malformed X-Pusher-Signature", ErrInvalidWebhook)
	}
	m := hmac.New(sha256.New, []byte(c.secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, fmt.Errorf("%w: X-Pusher-Signature does not match the body", ErrInvalidWebhook)
	}
	var hook Webhook
	if err := json.Unmarshal(body, &hook); err != nil {
		return nil, fmt.Errorf("%w: body is not a webhook: %v", ErrInvalidWebhook, err)
	}
	return &hook, nil
}
