package pushi

// Event is one publication. Exactly one of Channel and Channels must be set.
type Event struct {
	Channels []string // 1..100 channels (Trigger only; a batch item takes one)
	Channel  string   // a single channel
	Name     string   // event name, 1..200 characters, no reserved prefix
	// Data is sent as the event's data string: a string as is, []byte and
	// json.RawMessage as their text, anything else as its JSON encoding.
	Data     any
	SocketID string   // exclude this connection from delivery ("123.456")
	Info     []string // attributes to report per channel: "user_count", "subscription_count"
	Persist  *bool    // pushi extension: force persistence on or off; nil = app rules
}

// ChannelsQuery filters Channels.
type ChannelsQuery struct {
	Prefix string   // filter_by_prefix
	Info   []string // "user_count" (needs a "presence-" Prefix) and "subscription_count"
}

// ChannelInfo is what the server reports about a channel. Fields the server
// did not report (not requested, or not applicable) are left zero.
type ChannelInfo struct {
	Occupied          bool         `json:"occupied"` // set by Channel only
	UserCount         int          `json:"user_count"`
	SubscriptionCount int          `json:"subscription_count"`
	Cache             *CachedEvent `json:"cache"` // Channel with "cache"; nil when nothing is cached
}

// CachedEvent is the cached event of a cache channel.
type CachedEvent struct {
	Data string `json:"data"`
	TTL  int    `json:"ttl"` // remaining seconds
}

// TriggerResult holds the channel attributes asked for with Event.Info,
// keyed by channel name; empty when none were asked for.
type TriggerResult struct {
	Channels map[string]ChannelInfo `json:"channels"`
}

// BatchResult holds, index-aligned with the batch, the attributes asked for
// with each item's Info; nil when no item asked.
type BatchResult struct {
	Batch []ChannelInfo `json:"batch"`
}

// Member is a presence-channel identity. UserInfo is shown to other members.
type Member struct {
	UserID   string `json:"user_id"`
	UserInfo any    `json:"user_info,omitempty"`
}

// User is the identity a connection signs in as (pusher-js signin()).
type User struct {
	ID        string   `json:"id"`
	UserInfo  any      `json:"user_info,omitempty"`
	Watchlist []string `json:"watchlist,omitempty"`
}

// Webhook is a verified webhook body.
type Webhook struct {
	TimeMs int64          `json:"time_ms"` // creation time; order events by it, retries may reorder
	Events []WebhookEvent `json:"events"`
}

// WebhookEvent is one event of a webhook; which fields are set depends on Name
// (channel_occupied, channel_vacated, member_added, member_removed,
// client_event, cache_miss, subscription_count).
type WebhookEvent struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	Event             string `json:"event,omitempty"`
	Data              string `json:"data,omitempty"`
	SocketID          string `json:"socket_id,omitempty"`
	UserID            string `json:"user_id,omitempty"`
	SubscriptionCount int    `json:"subscription_count,omitempty"`
}
