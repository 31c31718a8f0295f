package pushi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

const (
	vecWebhookBody = `{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`
	vecWebhookSig  = "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
)

func webhookHeader(key, sig string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("X-Pusher-Key", key)
	}
	if sig != "" {
		h.Set("X-Pusher-Signature", sig)
	}
	return h
}

// §16 "webhook" row, through the public API.
func TestVerifyWebhookVector(t *testing.T) {
	if d := hmacHex(vecSecret, vecWebhookBody); d != vecWebhookSig {
		t.Fatalf("digest %s, want %s", d, vecWebhookSig)
	}
	hook, err := vecClient().VerifyWebhook(webhookHeader(vecKey, vecWebhookSig), []byte(vecWebhookBody))
	if err != nil {
		t.Fatal(err)
	}
	if hook.TimeMs != 1327078148132 || len(hook.Events) != 1 {
		t.Fatalf("parsed %+v", hook)
	}
	if e := hook.Events[0]; e.Name != "channel_occupied" || e.Channel != "test_channel" {
		t.Errorf("event %+v", e)
	}
	// Hex case does not matter.
	if _, err := vecClient().VerifyWebhook(webhookHeader(vecKey, strings.ToUpper(vecWebhookSig)), []byte(vecWebhookBody)); err != nil {
		t.Errorf("upper-case signature: %v", err)
	}
}

func TestVerifyWebhookParsesEveryField(t *testing.T) {
	body := `{"time_ms":1,"events":[` +
		`{"name":"client_event","channel":"presence-r","event":"client-typing","data":"{\"on\":true}","socket_id":"1.2","user_id":"42"},` +
		`{"name":"subscription_count","channel":"news","subscription_count":7},` +
		`{"name":"member_removed","channel":"presence-r","user_id":"9"}]}`
	hook, err := vecClient().VerifyWebhook(webhookHeader(vecKey, hmacHex(vecSecret, body)), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []WebhookEvent{
		{Name: "client_event", Channel: "presence-r", Event: "client-typing", Data: `{"on":true}`, SocketID: "1.2", UserID: "42"},
		{Name: "subscription_count", Channel: "news", SubscriptionCount: 7},
		{Name: "member_removed", Channel: "presence-r", UserID: "9"},
	}
	if len(hook.Events) != len(want) {
		t.Fatalf("events %+v", hook.Events)
	}
	for i := range want {
		if hook.Events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, hook.Events[i], want[i])
		}
	}
}

func TestVerifyWebhookRejects(t *testing.T) {
	body := []byte(vecWebhookBody)
	notJSON := []byte("not json")
	cases := []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"no key", webhookHeader("", vecWebhookSig), body},
		{"wrong key", webhookHeader("other-key", vecWebhookSig), body},
		{"no signature", webhookHeader(vecKey, ""), body},
		{"signature not hex", webhookHeader(vecKey, "zz"+vecWebhookSig[2:]), body},
		{"wrong signature", webhookHeader(vecKey, strings.Repeat("0", 64)), body},
		{"truncated signature", webhookHeader(vecKey, vecWebhookSig[:62]), body},
		{"body changed", webhookHeader(vecKey, vecWebhookSig), []byte(vecWebhookBody + " ")},
		{"signed with another secret", webhookHeader(vecKey, hmacHex("other", vecWebhookBody)), body},
		{"signed but not JSON", webhookHeader(vecKey, hmacHex(vecSecret, string(notJSON))), notJSON},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hook, err := vecClient().VerifyWebhook(tc.header, tc.body)
			if !errors.Is(err, ErrInvalidWebhook) || hook != nil {
				t.Fatalf("got %v, %v; want ErrInvalidWebhook", hook, err)
			}
		})
	}
}
