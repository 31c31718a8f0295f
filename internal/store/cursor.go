package store

import (
	"encoding/base64"
	"encoding/json"
)

// FollowCursor is the last row of a ListFollows page; the next page starts
// after it. Every backend encodes it the same way, so a cursor handed out
// before a store copy still works after it.
type FollowCursor struct {
	UserID  string `json:"u"`
	Channel string `json:"c"`
}

// ParseFollowCursor decodes a cursor; "" is the first page.
func ParseFollowCursor(s string) (FollowCursor, error) {
	var c FollowCursor
	if s == "" {
		return c, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, ErrInvalidCursor
	}
	return c, nil
}

// PageFollows cuts rows read with limit+1 to one page and returns the
// cursor of the next page, "" when this is the last.
func PageFollows(rows []Follow, limit int) ([]Follow, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	last := rows[limit-1]
	b, _ := json.Marshal(FollowCursor{UserID: last.UserID, Channel: last.Channel})
	return rows, base64.RawURLEncoding.EncodeToString(b)
}
