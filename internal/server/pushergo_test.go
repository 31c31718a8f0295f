package server

import (
	"encoding/json"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// These tests drive the server with the official Go server SDK,
// github.com/pusher/pusher-http-go/v5 at v5.1.1, unmodified.

const masterKeyB64 = "dGhpcyBpcyBhIDMyIGJ5dGUgbWFzdGVyIGtleSEhISE=" // 32 bytes

func (s *testServer) goSDK(t *testing.T) *pusher.Client {
	t.Helper()
	return &pusher.Client{AppID: "100001", Key: "key-basic", Secret: "secret-basic",
		Host: strings.TrimPrefix(s.apiURL, "http://"), EncryptionMasterKeyBase64: masterKeyB64}
}

// authParams is the form body pusher-js posts to an auth endpoint.
func authParams(socketID, channel string) []byte {
	return []byte("socket_id=" + socketID + "&channel_name=" + channel)
}

func TestGoSDKTriggerVariants(t *testing.T) {
	s := startServer(t, nil)
	sdk := s.goSDK(t)
	a := s.connect(t, "key-basic")
	b := s.connect(t, "key-basic")
	a.subscribe("sdk-a", nil)
	b.subscribe("sdk-a", nil)
	b.subscribe("sdk-b", nil)

	if err := sdk.Trigger("sdk-a", "obj", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	want := `{"event":"obj","channel":"sdk-a","data":"{\"n\":1}"}`
	a.expectRaw(want)
	b.expectRaw(want)

	// Multi-channel: one frame per channel per subscribed socket.
	if err := sdk.TriggerMulti([]string{"sdk-a", "sdk-b"}, "multi", "x"); err != nil {
		t.Fatal(err)
	}
	a.expectRaw(`{"event":"multi","channel":"sdk-a","data":"x"}`)
	b.expectRaw(`{"event":"multi","channel":"sdk-a","data":"x"}`)
	b.expectRaw(`{"event":"multi","channel":"sdk-b","data":"x"}`)

	// Exclusion by socket_id.
	if _, err := sdk.TriggerWithParams("sdk-a", "excl", "y", pusher.TriggerParams{SocketID: &a.socketID}); err != nil {
		t.Fatal(err)
	}
	b.expectRaw(`{"event":"excl","channel":"sdk-a","data":"y"}`)
	a.expectNothing(200e6)

	// info on trigger: subscription counts at publish time.
	info := "subscription_count"
	res, err := sdk.TriggerWithParams("sdk-a", "info", "z", pusher.TriggerParams{Info: &info})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Channels["sdk-a"].SubscriptionCount; got == nil || *got != 2 {
		t.Fatalf("subscription_count = %v", got)
	}
	a.expectEvent("info")
	b.expectEvent("info")

	// Batch with info on one item.
	batch, err := sdk.TriggerBatch([]pusher.Event{
		{Channel: "sdk-a", Name: "b1", Data: "1", Info: &info},
		{Channel: "sdk-b", Name: "b2", Data: "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Batch) != 2 || batch.Batch[0].SubscriptionCount == nil || *batch.Batch[0].SubscriptionCount != 2 || batch.Batch[1].SubscriptionCount != nil {
		t.Fatalf("batch info = %+v", batch.Batch)
	}
	a.expectRaw(`{"event":"b1","channel":"sdk-a","data":"1"}`)
	b.expectRaw(`{"event":"b1","channel":"sdk-a","data":"1"}`)
	b.expectRaw(`{"event":"b2","channel":"sdk-b","data":"2"}`)
}

func TestGoSDKChannelQueriesAndAuth(t *testing.T) {
	s := startServer(t, nil)
	sdk := s.goSDK(t)
	a := s.connect(t, "key-basic")
	b := s.connect(t, "key-basic")

	// Private channel authorised by the SDK.
	var auth struct {
		Auth        string `json:"auth"`
		ChannelData string `json:"channel_data"`
	}
	resp, err := sdk.AuthorizePrivateChannel(authParams(a.socketID, "private-room"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(resp, &auth)
	a.subscribe("private-room", map[string]any{"auth": auth.Auth})

	// Presence: the same user on two sockets counts once.
	for _, c := range []*wsClient{a, b} {
		resp, err := sdk.AuthorizePresenceChannel(authParams(c.socketID, "presence-room"), pusher.MemberData{UserID: "u1", UserInfo: map[string]string{"name": "Ann"}})
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(resp, &auth)
		c.subscribe("presence-room", map[string]any{"auth": auth.Auth, "channel_data": auth.ChannelData})
	}

	prefix, userCount := "presence-", "user_count"
	list, err := sdk.Channels(pusher.ChannelsParams{FilterByPrefix: &prefix, Info: &userCount})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Channels) != 1 || list.Channels["presence-room"].UserCount != 1 {
		t.Fatalf("channels = %+v", list.Channels)
	}
	all, err := sdk.Channels(pusher.ChannelsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all.Channels["private-room"]; !ok || len(all.Channels) != 2 {
		t.Fatalf("all channels = %+v", all.Channels)
	}
	ch, err := sdk.Channel("presence-room", pusher.ChannelParams{Info: &userCount})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Occupied || ch.UserCount != 1 {
		t.Fatalf("channel = %+v", ch)
	}
	subCount := "subscription_count"
	pc, err := sdk.Channel("private-room", pusher.ChannelParams{Info: &subCount})
	if err != nil {
		t.Fatal(err)
	}
	if !pc.Occupied || pc.SubscriptionCount != 1 {
		t.Fatalf("private channel = %+v", pc)
	}
	users, err := sdk.GetChannelUsers("presence-room")
	if err != nil {
		t.Fatal(err)
	}
	if len(users.List) != 1 || users.List[0].ID != "u1" {
		t.Fatalf("users = %+v", users.List)
	}
	// An error from the server reaches the SDK as an error.
	if _, err := sdk.GetChannelUsers("private-room"); err == nil {
		t.Fatal("users of a private channel: want an error")
	}
}

func TestGoSDKUserAuthAndSendToUser(t *testing.T) {
	s := startServer(t, nil)
	sdk := s.goSDK(t)
	c := s.connect(t, "key-basic")
	resp, err := sdk.AuthenticateUser(authParams(c.socketID, ""), map[string]any{"id": "42", "user_info": map[string]any{"name": "Bo"}})
	if err != nil {
		t.Fatal(err)
	}
	f := c.signinWith(resp)
	if !strings.Contains(f.raw, `"user_data":`) {
		t.Fatalf("signin_success: %s", f.raw)
	}
	c.subscribe("#server-to-user-42", map[string]any{"auth": ""})
	if err := sdk.SendToUser("42", "hello", map[string]string{"x": "1"}); err != nil {
		t.Fatal(err)
	}
	c.expectRaw(`{"event":"hello","channel":"#server-to-user-42","data":"{\"x\":\"1\"}"}`)
}

func TestGoSDKEncryptedChannel(t *testing.T) {
	s := startServer(t, nil)
	sdk := s.goSDK(t)
	c := s.connect(t, "key-basic")
	const channel = "private-encrypted-vault"
	resp, err := sdk.AuthorizePrivateChannel(authParams(c.socketID, channel))
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		Auth         string `json:"auth"`
		SharedSecret string `json:"shared_secret"`
	}
	json.Unmarshal(resp, &auth)
	if auth.SharedSecret == "" {
		t.Fatal("SDK returned no shared_secret")
	}
	c.subscribe(channel, map[string]any{"auth": auth.Auth})
	if err := sdk.Trigger(channel, "secret", map[string]string{"msg": "hi"}); err != nil {
		t.Fatal(err)
	}
	f := c.expectEvent("secret")
	// The server forwards the SDK's envelope untouched; decrypt it as pusher-js would.
	if plain := openEnvelope(t, auth.SharedSecret, f.dataString(t)); plain != `{"msg":"hi"}` {
		t.Fatalf("decrypted %q", plain)
	}

}

// The SDK's Channels with info=subscription_count succeeds (it was a 400)
// on an app with subscription counting off and on. pusher-http-go's
// ChannelListItem has no SubscriptionCount field, so the count itself is
// read from the raw answer here; Channel exposes it.
func TestGoSDKChannelsSubscriptionCount(t *testing.T) {
	s := startServer(t, nil)
	for _, app := range []testApp{appBasic, appFull} {
		sdk := &pusher.Client{AppID: app.id, Key: app.key, Secret: app.secret, Host: strings.TrimPrefix(s.apiURL, "http://")}
		a, b := s.connect(t, app.key), s.connect(t, app.key)
		a.subscribe("sdk-count", nil)
		b.subscribe("sdk-count", nil)
		info := "subscription_count"
		list, err := sdk.Channels(pusher.ChannelsParams{Info: &info})
		if err != nil {
			t.Fatalf("app %s: Channels(info=subscription_count): %v", app.id, err)
		}
		if _, ok := list.Channels["sdk-count"]; !ok || len(list.Channels) != 1 {
			t.Fatalf("app %s: channels = %+v", app.id, list.Channels)
		}
		ch, err := sdk.Channel("sdk-count", pusher.ChannelParams{Info: &info})
		if err != nil || !ch.Occupied || ch.SubscriptionCount != 2 {
			t.Fatalf("app %s: channel = %+v, %v", app.id, ch, err)
		}
		s.wantAPI(t, app, "GET", "/channels", q("info", "subscription_count"), "", 200, `{"channels":{"sdk-count":{"subscription_count":2}}}`)
	}
}
