package webhook

import "encoding/json"

// plainEvent is Event without its MarshalJSON.
type plainEvent Event

// MarshalJSON is the event as docs/protocol.md §15 sends it: a client_event
// always has "data" (a client may send an empty string), and a
// subscription_count event always has "subscription_count" (0 included).
func (e Event) MarshalJSON() ([]byte, error) {
	switch e.Name {
	case "client_event":
		return json.Marshal(struct {
			plainEvent
			Data string `json:"data"`
		}{plainEvent(e), e.Data})
	case "subscription_count":
		n := 0
		if e.SubscriptionCount != nil {
			n = *e.SubscriptionCount
		}
		return json.Marshal(struct {
			plainEvent
			SubscriptionCount int `json:"subscription_count"`
		}{plainEvent(e), n})
	}
	return json.Marshal(plainEvent(e))
}
