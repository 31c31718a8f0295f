package apps

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Webhook is one protocol webhook endpoint (docs/protocol.md §15).
type Webhook struct {
	URL string `json:"url"`
	// EventTypes filters by webhook name; empty means every type.
	EventTypes []string          `json:"event_types,omitempty"`
	Filter     *WebhookFilter    `json:"filter,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// WebhookFilter keeps the events whose channel matches every given rule.
type WebhookFilter struct {
	ChannelNameStartsWith string `json:"channel_name_starts_with,omitempty"`
	ChannelNameEndsWith   string `json:"channel_name_ends_with,omitempty"`
}

// WebhookEventTypes are the names of docs/protocol.md §15.
var WebhookEventTypes = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed",
	"client_event", "cache_miss", "subscription_count"}

// Handlers switches the delivery handlers of docs/features.md §8.
type Handlers struct {
	Enabled        bool `json:"enabled"`
	ClientEvents   bool `json:"client_events"`
	BrowserWebPush bool `json:"browser_web_push"`
}

// WebPush is the app's VAPID identity (docs/features.md §2.4, §8.5).
type WebPush struct {
	VAPIDPublicKey string `json:"vapid_public_key"` // derived from the private key
	// VAPIDPrivateKey is write-only: stored, never shown (see View).
	VAPIDPrivateKey string `json:"vapid_private_key,omitempty"`
	VAPIDSubject    string `json:"vapid_subject"`
	TTLS            int    `json:"ttl_s"`
}

// APN is the app's APNs token-auth configuration (docs/features.md §8.7).
type APN struct {
	TeamID string `json:"team_id"`
	KeyID  string `json:"key_id"`
	// KeyP8 is write-only: the PEM .p8 key, stored, never shown.
	KeyP8   string `json:"key_p8,omitempty"`
	Topic   string `json:"topic"`
	Sandbox bool   `json:"sandbox"`
}

// DefaultWebPushTTL is WEB_PUSH_TTL's default (docs/features.md §12).
const DefaultWebPushTTL = 86400

// maxWebPushTTL is the longest TTL push services keep a message (4 weeks).
const maxWebPushTTL = 28 * 86400

var (
	appleID     = regexp.MustCompile(`^[A-Za-z0-9]{10}$`)
	headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// validateDelivery checks webhooks, web_push, apn and smtp_url.
func (a *App) validateDelivery() error {
	for i, w := range a.Webhooks {
		if err := w.validate(); err != nil {
			return fmt.Errorf("app %s: webhooks[%d].%w", a.ID, i, err)
		}
	}
	if err := a.WebPush.validate(); err != nil {
		return fmt.Errorf("app %s: web_push.%w", a.ID, err)
	}
	if a.APN != nil {
		if err := a.APN.validate(); err != nil {
			return fmt.Errorf("app %s: apn.%w", a.ID, err)
		}
	}
	if a.SMTPURL != nil {
		if err := validateSMTPURL(*a.SMTPURL); err != nil {
			return fmt.Errorf("app %s: smtp_url %w", a.ID, err)
		}
	}
	return nil
}

func (w *Webhook) validate() error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q must be an absolute http or https URL", w.URL)
	}
	for _, t := range w.EventTypes {
		if !slices.Contains(WebhookEventTypes, t) {
			return fmt.Errorf("event_types: %q is not one of %s", t, strings.Join(WebhookEventTypes, ", "))
		}
	}
	for name, v := range w.Headers {
		if !headerToken.MatchString(name) || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("headers: %q is not a valid header", name)
		}
		// The signed headers must come from the server (docs/protocol.md §15).
		switch http.CanonicalHeaderKey(name) {
		case "Content-Type", "X-Pusher-Key", "X-Pusher-Signature":
			return fmt.Errorf("headers: %s is set by the server and cannot be overridden", name)
		}
	}
	return nil
}

func (p *WebPush) validate() error {
	if p.VAPIDPrivateKey != "" {
		pub, err := VAPIDPublicKey(p.VAPIDPrivateKey)
		if err != nil {
			return fmt.Errorf("vapid_private_key: %w", err)
		}
		if p.VAPIDPublicKey != pub {
			return fmt.Errorf("vapid_public_key does not belong to vapid_private_key (it is derived: leave it out)")
		}
	} else if p.VAPIDPublicKey != "" {
		return fmt.Errorf("vapid_public_key needs its vapid_private_key")
	}
	// RFC 8292 §2.1: a contact URI, mailto: or https:.
	if !strings.HasPrefix(p.VAPIDSubject, "mailto:") && !strings.HasPrefix(p.VAPIDSubject, "https://") {
		return fmt.Errorf("vapid_subject %q must be a mailto: or https:// URI", p.VAPIDSubject)
	}
	if p.TTLS < 0 || p.TTLS > maxWebPushTTL {
		return fmt.Errorf("ttl_s must be between 0 and %d", maxWebPushTTL)
	}
	return nil
}

func (p *APN) validate() error {
	if !appleID.MatchString(p.TeamID) {
		return fmt.Errorf("team_id must be Apple's 10-character team id")
	}
	if !appleID.MatchString(p.KeyID) {
		return fmt.Errorf("key_id must be Apple's 10-character key id")
	}
	if p.Topic == "" || strings.ContainsAny(p.Topic, " \t\r\n") {
		return fmt.Errorf("topic must be the app's bundle id")
	}
	if p.KeyP8 == "" {
		return fmt.Errorf("key_p8 is required (the PEM contents of the .p8 file)")
	}
	block, _ := pem.Decode([]byte(p.KeyP8))
	if block == nil {
		return fmt.Errorf("key_p8 is not PEM (the contents of the .p8 file)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("key_p8 is not a PKCS#8 private key: %v", err)
	}
	if ec, ok := key.(*ecdsa.PrivateKey); !ok || ec.Curve != elliptic.P256() {
		return fmt.Errorf("key_p8 must be a P-256 (ES256) key")
	}
	return nil
}

// validateSMTPURL checks docs/features.md §8.6's URL form.
func validateSMTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch u.Scheme {
	case "smtp", "smtps", "smtp+tls":
	default:
		return fmt.Errorf("must use smtp://, smtps:// or smtp+tls://")
	}
	if u.Hostname() == "" {
		return fmt.Errorf("has no host")
	}
	return nil
}
