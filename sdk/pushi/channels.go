package pushi

import (
	"context"
	"strings"
)

// Channels lists the occupied channels, optionally filtered by prefix.
func (c *Client) Channels(ctx context.Context, q ChannelsQuery) (map[string]ChannelInfo, error) {
	params := map[string]string{}
	if q.Prefix != "" {
		params["filter_by_prefix"] = q.Prefix
	}
	if len(q.Info) > 0 {
		for _, attr := range q.Info {
			switch attr {
			case "subscription_count": // every listed channel's connections
			case "user_count":
				if !isPresence(q.Prefix) {
					return nil, invalid("info", "user_count needs a prefix starting with %q", presencePrefix)
				}
			default:
				return nil, invalid("info", "%q: channel lists report user_count and subscription_count", attr)
			}
		}
		params["info"] = strings.Join(q.Info, ",")
	}
	var res struct {
		Channels map[string]ChannelInfo `json:"channels"`
	}
	if err := c.do(ctx, "GET", params, nil, &res, "channels"); err != nil {
		return nil, err
	}
	if res.Channels == nil {
		res.Channels = map[string]ChannelInfo{}
	}
	return res.Channels, nil
}

// Channel reports whether a channel is occupied and, on request, its
// "user_count" (presence), "subscription_count" (non-presence) and "cache"
// (cache channels).
func (c *Client) Channel(ctx context.Context, name string, info ...string) (*ChannelInfo, error) {
	if err := validChannelName(name); err != nil {
		return nil, err
	}
	for _, attr := range info {
		var ok bool
		switch attr {
		case "user_count":
			ok = isPresence(name)
		case "subscription_count":
			ok = !isPresence(name)
		case "cache":
			ok = isCache(name)
		}
		if !ok {
			return nil, invalid("info", "%q does not apply to channel %q", attr, name)
		}
	}
	params := map[string]string{}
	if len(info) > 0 {
		params["info"] = strings.Join(info, ",")
	}
	res := &ChannelInfo{}
	if err := c.do(ctx, "GET", params, nil, res, "channels", name); err != nil {
		return nil, err
	}
	return res, nil
}

// Users returns the ids of the users present in a presence channel.
func (c *Client) Users(ctx context.Context, channel string) ([]string, error) {
	if err := validChannelName(channel); err != nil {
		return nil, err
	}
	if !isPresence(channel) {
		return nil, invalid("channel", "%q is not a presence channel", channel)
	}
	var res struct {
		Users []struct {
			ID string `json:"id"`
		} `json:"users"`
	}
	if err := c.do(ctx, "GET", nil, nil, &res, "channels", channel, "users"); err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Users))
	for i, u := range res.Users {
		ids[i] = u.ID
	}
	return ids, nil
}

// TerminateUserConnections closes every connection signed in as userID.
func (c *Client) TerminateUserConnections(ctx context.Context, userID string) error {
	if err := validUserID(userID); err != nil {
		return err
	}
	return c.do(ctx, "POST", nil, struct{}{}, nil, "users", userID, "terminate_connections")
}
