// Package apps defines an app (tenant) with its credentials, settings and
// limits, and the registry the server looks apps up in.
package apps

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Limits are the per-app limits of docs/protocol.md and docs/features.md §2.1.
type Limits struct {
	MaxEventBytes            int `json:"max_event_bytes"`
	MaxNameLength            int `json:"max_name_length"`
	MaxChannelsPerTrigger    int `json:"max_channels_per_trigger"`
	MaxBatch                 int `json:"max_batch"`
	ClientEventRate          int `json:"client_event_rate"`
	PresenceMaxMembers       int `json:"presence_max_members"`
	PresenceMaxUserInfoBytes int `json:"presence_max_user_info_bytes"`
	PresenceMaxUserIDLength  int `json:"presence_max_user_id_length"`
	MaxChannelsPerConnection int `json:"max_channels_per_connection"`
	MaxBackendEventsPerS     int `json:"max_backend_events_per_s"`
	WatchlistMax             int `json:"watchlist_max"`
	MaxFollowsPerUser        int `json:"max_follows_per_user"`
	// MaxConnectionRate caps this app's WebSocket connection attempts per
	// second before the upgrade (HTTP 503); 0 leaves only the node's cap.
	MaxConnectionRate int `json:"max_connection_rate"`
	// PersistedClientEventsPerMin caps the client events one user (or,
	// without a user, one socket) may have stored per minute on this node,
	// burst included, so stored history grows at a bounded rate; 0 =
	// unlimited.
	PersistedClientEventsPerMin int `json:"persisted_client_events_per_min"`
}

// DefaultLimits are the protocol defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxEventBytes:            10240,
		MaxNameLength:            200,
		MaxChannelsPerTrigger:    100,
		MaxBatch:                 10,
		ClientEventRate:          10,
		PresenceMaxMembers:       100,
		PresenceMaxUserInfoBytes: 1024,
		PresenceMaxUserIDLength:  128,
		MaxChannelsPerConnection: 1000,
		MaxBackendEventsPerS:     0,
		WatchlistMax:             100,
		MaxFollowsPerUser:        1000,
		// A person chatting sends far fewer; 60 stored 10 KB events a
		// minute bound a user's history growth at 10 KB/s.
		PersistedClientEventsPerMin: 60,
	}
}

// App is one tenant. Apps are immutable values once registered: a change
// replaces the whole *App in the registry, so readers never lock. Its JSON
// is the apps-file and storage form and holds the write-only keys; the
// management API shows View instead.
type App struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
	// PreviousSecret stays valid until PreviousValidUntil (secret rotation).
	PreviousSecret     string    `json:"-"`
	PreviousValidUntil time.Time `json:"-"`

	Name                       string      `json:"name"`
	Enabled                    bool        `json:"enabled"`
	MaxConnections             int         `json:"max_connections"`
	AllowedOrigins             []string    `json:"allowed_origins"`
	ClientEvents               bool        `json:"client_events"`
	SubscriptionCount          bool        `json:"subscription_count"`
	Watchlist                  bool        `json:"watchlist"`
	UserAuthenticationRequired bool        `json:"user_authentication_required"`
	UserAuthTimeoutS           int         `json:"user_auth_timeout_s"`
	CacheTTLS                  int         `json:"cache_ttl_s"`
	Limits                     Limits      `json:"limits"`
	Persistence                Persistence `json:"persistence"`

	Webhooks        []Webhook `json:"webhooks"`
	WebhookBatching bool      `json:"webhook_batching"`
	// AllowPrivateTargets lets this app's outbound deliveries (webhooks)
	// reach loopback, private, link-local and other internal addresses,
	// which internal/netguard refuses by default: an app's URL must not
	// become a way into the network pushi runs in.
	AllowPrivateTargets bool     `json:"allow_private_targets"`
	Handlers            Handlers `json:"handlers"`
	WebPush             WebPush  `json:"web_push"`
	APN                 *APN     `json:"apn"`      // nil: no APNs
	SMTPURL             *string  `json:"smtp_url"` // nil: the SMTP environment
}

// Persistence decides what is stored and for how long (docs/features.md §5.1, §5.5).
type Persistence struct {
	Default             bool     `json:"default"`
	Prefixes            []string `json:"prefixes"`
	ClientEvents        string   `json:"client_events"` // "none", "peer" or "all"
	MaxEventsPerChannel int      `json:"max_events_per_channel"`
	MaxAgeS             int      `json:"max_age_s"`
	InboxMaxPerUser     int      `json:"inbox_max_per_user"`
	InboxOnSubscribe    int      `json:"inbox_on_subscribe"`
	ReadMax             int      `json:"read_max"`
}

// DefaultPersistence is docs/features.md §5.1's default: nothing persisted unless
// asked, peer-channel client events stored.
func DefaultPersistence() Persistence {
	return Persistence{ClientEvents: "peer", Prefixes: []string{}, MaxEventsPerChannel: 1000, MaxAgeS: 2592000,
		InboxMaxPerUser: 1000, InboxOnSubscribe: 10, ReadMax: 100}
}

// PersistTrigger decides whether an HTTP trigger on channel is stored: the
// request's own persist flag, else a matching prefix, else the default.
func (p *Persistence) PersistTrigger(channel string, explicit *bool) bool {
	if explicit != nil {
		return *explicit
	}
	for _, prefix := range p.Prefixes {
		if strings.HasPrefix(channel, prefix) {
			return true
		}
	}
	return p.Default
}

// Defaults returns an app with every setting at its documented default.
func Defaults() App {
	return App{Enabled: true, UserAuthTimeoutS: 30, CacheTTLS: 1800, Limits: DefaultLimits(), AllowedOrigins: []string{}, Persistence: DefaultPersistence(),
		Webhooks: []Webhook{}, Handlers: Handlers{Enabled: true},
		WebPush: WebPush{VAPIDSubject: "mailto:noreply@pushi.io", TTLS: DefaultWebPushTTL}}
}

// Secrets lists the secrets valid at now, current first.
func (a *App) Secrets(now time.Time) []string {
	if a.PreviousSecret != "" && now.Before(a.PreviousValidUntil) {
		return []string{a.Secret, a.PreviousSecret}
	}
	return []string{a.Secret}
}

// OriginAllowed reports whether a WebSocket Origin may connect.
func (a *App) OriginAllowed(origin string) bool {
	if len(a.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range a.AllowedOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks an app's identity fields and limits.
func (a *App) Validate() error {
	if !idPattern.MatchString(a.ID) {
		return fmt.Errorf("app id %q: must be 1-64 of [A-Za-z0-9_-]", a.ID)
	}
	if a.Key == "" || len(a.Key) > 128 || containsAny(a.Key, "/:?#") {
		return fmt.Errorf("app %s: key must be non-empty, at most 128 bytes, without '/', ':', '?' or '#'", a.ID)
	}
	if a.Secret == "" {
		return fmt.Errorf("app %s: secret is empty", a.ID)
	}
	l := a.Limits
	for name, v := range map[string]int{
		"max_event_bytes": l.MaxEventBytes, "max_name_length": l.MaxNameLength,
		"max_channels_per_trigger": l.MaxChannelsPerTrigger, "max_batch": l.MaxBatch,
		"client_event_rate": l.ClientEventRate, "presence_max_members": l.PresenceMaxMembers,
		"presence_max_user_info_bytes": l.PresenceMaxUserInfoBytes, "presence_max_user_id_length": l.PresenceMaxUserIDLength,
		"max_channels_per_connection": l.MaxChannelsPerConnection, "watchlist_max": l.WatchlistMax,
	} {
		if v <= 0 {
			return fmt.Errorf("app %s: limits.%s must be > 0", a.ID, name)
		}
	}
	p := a.Persistence
	if p.ClientEvents != "none" && p.ClientEvents != "peer" && p.ClientEvents != "all" {
		return fmt.Errorf("app %s: persistence.client_events must be \"none\", \"peer\" or \"all\"", a.ID)
	}
	if p.MaxEventsPerChannel <= 0 || p.MaxAgeS <= 0 || p.InboxMaxPerUser <= 0 || p.InboxOnSubscribe < 0 || p.ReadMax <= 0 {
		return fmt.Errorf("app %s: persistence caps must be > 0 (inbox_on_subscribe >= 0)", a.ID)
	}
	if l.MaxFollowsPerUser <= 0 {
		return fmt.Errorf("app %s: limits.max_follows_per_user must be > 0", a.ID)
	}
	if l.MaxBackendEventsPerS < 0 || l.MaxConnectionRate < 0 || l.PersistedClientEventsPerMin < 0 || a.MaxConnections < 0 || a.UserAuthTimeoutS <= 0 || a.CacheTTLS <= 0 {
		return fmt.Errorf("app %s: max_connections, max_backend_events_per_s, max_connection_rate, persisted_client_events_per_min must be >= 0; user_auth_timeout_s, cache_ttl_s > 0", a.ID)
	}
	return a.validateDelivery()
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// Generate returns an app with fresh random credentials (docs/features.md §2.1):
// a 9-digit id, a 20-hex key, a 64-hex secret and a VAPID pair.
func Generate(name string) App {
	a := Defaults()
	a.ID = GenerateID()
	a.Key = GenerateKey()
	a.Secret = GenerateSecret()
	a.Name = name
	var err error
	if a.WebPush.VAPIDPrivateKey, a.WebPush.VAPIDPublicKey, err = GenerateVAPID(); err != nil {
		panic(err) // the system RNG failed, as randomHex would
	}
	return a
}

// GenerateID returns a random 9-digit decimal id, which pusher-http-go's
// ClientFromURL accepts.
func GenerateID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprint(100_000_000 + n.Int64())
}

// GenerateKey returns a random 20-hex app key.
func GenerateKey() string { return randomHex(10) }

// GenerateSecret returns a random 64-hex (256-bit) secret.
func GenerateSecret() string { return randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
