package pushi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// eventBody is one event on the wire; field order matches the official SDKs
// (and the §16 test vector) so bodies are byte-for-byte comparable.
type eventBody struct {
	Name     string   `json:"name"`
	Channels []string `json:"channels,omitempty"`
	Channel  string   `json:"channel,omitempty"`
	Data     string   `json:"data"`
	SocketID string   `json:"socket_id,omitempty"`
	Info     string   `json:"info,omitempty"`
	Persist  *bool    `json:"persist,omitempty"`
}

// TriggerEvent publishes data as event on channel. The argument order
// (channel, data, event) follows the original pushi's trigger_event.
func (c *Client) TriggerEvent(ctx context.Context, channel string, data any, event string) error {
	_, err := c.Trigger(ctx, Event{Channel: channel, Name: event, Data: data})
	return err
}

// SendToUser publishes data as event to every connection signed in as userID.
func (c *Client) SendToUser(ctx context.Context, userID string, data any, event string) error {
	if err := validUserID(userID); err != nil {
		return err
	}
	return c.TriggerEvent(ctx, serverToUserPrefix+userID, data, event)
}

// Trigger publishes one event to one or more channels. The result carries the
// attributes requested with ev.Info.
func (c *Client) Trigger(ctx context.Context, ev Event) (*TriggerResult, error) {
	channels, err := eventChannels(ev)
	if err != nil {
		return nil, err
	}
	body, err := c.buildEvent(ev, channels)
	if err != nil {
		return nil, err
	}
	body.Channels = channels
	res := &TriggerResult{}
	if err := c.do(ctx, "POST", nil, body, res, "events"); err != nil {
		return nil, err
	}
	if res.Channels == nil {
		res.Channels = map[string]ChannelInfo{}
	}
	return res, nil
}

// TriggerBatch publishes 1..10 events, each to a single channel, in one call.
func (c *Client) TriggerBatch(ctx context.Context, events []Event) (*BatchResult, error) {
	if len(events) == 0 || len(events) > maxBatchEvents {
		return nil, invalid("batch", "has %d events, want 1..%d", len(events), maxBatchEvents)
	}
	batch := make([]*eventBody, len(events))
	for i, ev := range events {
		channels, err := eventChannels(ev)
		if err != nil {
			return nil, fmt.Errorf("batch[%d]: %w", i, err)
		}
		if len(channels) != 1 {
			return nil, fmt.Errorf("batch[%d]: %w", i, invalid("channel", "a batch item takes exactly one channel"))
		}
		if batch[i], err = c.buildEvent(ev, channels); err != nil {
			return nil, fmt.Errorf("batch[%d]: %w", i, err)
		}
		batch[i].Channel = channels[0]
	}
	res := &BatchResult{}
	if err := c.do(ctx, "POST", nil, map[string]any{"batch": batch}, res, "batch_events"); err != nil {
		return nil, err
	}
	return res, nil
}

// eventChannels returns the event's target channels, validated.
func eventChannels(ev Event) ([]string, error) {
	channels := ev.Channels
	switch {
	case ev.Channel != "" && len(ev.Channels) > 0:
		return nil, invalid("channel", "set Channel or Channels, not both")
	case ev.Channel != "":
		channels = []string{ev.Channel}
	case len(channels) == 0:
		return nil, invalid("channel", "no channel given")
	case len(channels) > maxTriggerChannels:
		return nil, invalid("channels", "%d channels, at most %d", len(channels), maxTriggerChannels)
	}
	for _, ch := range channels {
		if err := validChannelName(ch); err != nil {
			return nil, err
		}
	}
	return channels, nil
}

// buildEvent validates everything but the channels and encodes the data,
// encrypting it for a private-encrypted- channel.
func (c *Client) buildEvent(ev Event, channels []string) (*eventBody, error) {
	if err := validEventName(ev.Name); err != nil {
		return nil, err
	}
	if ev.SocketID != "" {
		if err := validSocketID(ev.SocketID); err != nil {
			return nil, err
		}
	}
	data, err := encodeData(ev.Data)
	if err != nil {
		return nil, err
	}
	for _, ch := range channels {
		if !isEncrypted(ch) || isEnvelope(data) {
			continue
		}
		// Data is encrypted with one channel's key, so an encrypted channel
		// is triggered alone (as the official SDKs require).
		if len(channels) > 1 {
			return nil, invalid("channels", "%q is end-to-end encrypted: trigger it alone", ch)
		}
		if data, err = c.encrypt(ch, data); err != nil {
			return nil, err
		}
	}
	return &eventBody{
		Name:     ev.Name,
		Data:     data,
		SocketID: ev.SocketID,
		Info:     strings.Join(ev.Info, ","),
		Persist:  ev.Persist,
	}, nil
}

// encodeData turns Event.Data into the string subscribers receive verbatim.
func encodeData(data any) (string, error) {
	switch d := data.(type) {
	case string:
		return d, nil
	case json.RawMessage:
		return string(d), nil
	case []byte:
		return string(d), nil
	}
	b, err := marshal(data)
	if err != nil {
		return "", invalid("data", "cannot encode as JSON: %v", err)
	}
	return string(b), nil
}
