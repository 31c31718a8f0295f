package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pushi-io/pushi/sdk/pushi"
)

// TestOwnSDKAgainstServer drives every SDK call against a real server.
func TestOwnSDKAgainstServer(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	sdk := pushi.New("100001", "key-basic", "secret-basic", pushi.WithBaseURL(s.apiURL))
	a := s.connect(t, "key-basic")
	b := s.connect(t, "key-basic")

	// Private and presence subscriptions authorised by the SDK.
	var auth struct {
		Auth        string `json:"auth"`
		ChannelData string `json:"channel_data"`
	}
	body, err := sdk.AuthorizeChannel(a.socketID, "private-sdk", nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(body, &auth)
	a.subscribe("private-sdk", map[string]any{"auth": auth.Auth})
	for i, c := range []*wsClient{a, b} {
		body, err := sdk.AuthorizeChannel(c.socketID, "presence-sdk", &pushi.Member{UserID: "u1", UserInfo: map[string]string{"n": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(body, &auth)
		f := c.subscribe("presence-sdk", map[string]any{"auth": auth.Auth, "channel_data": auth.ChannelData})
		if i == 1 && f.dataString(t) != `{"presence":{"ids":["u1"],"hash":{"u1":{"n":"x"}},"count":1}}` {
			t.Fatalf("presence state: %s", f.raw)
		}
	}

	// The seed's call shape: channel, data, event.
	if err := sdk.TriggerEvent(ctx, "private-sdk", map[string]int{"v": 1}, "changed"); err != nil {
		t.Fatal(err)
	}
	a.expectRaw(`{"event":"changed","channel":"private-sdk","data":"{\"v\":1}"}`)

	res, err := sdk.Trigger(ctx, pushi.Event{Channels: []string{"presence-sdk", "private-sdk"}, Name: "both", Data: "d", SocketID: b.socketID, Info: []string{"user_count", "subscription_count"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Channels["presence-sdk"]; p.UserCount != 1 || p.SubscriptionCount != 2 {
		t.Fatalf("presence info = %+v", p)
	}
	if p := res.Channels["private-sdk"]; p.SubscriptionCount != 1 || p.UserCount != 0 {
		t.Fatalf("private info = %+v", p)
	}
	a.expectRaw(`{"event":"both","channel":"presence-sdk","data":"d"}`)
	a.expectRaw(`{"event":"both","channel":"private-sdk","data":"d"}`)
	b.expectNothing(150e6) // excluded by socket id

	if _, err := sdk.TriggerBatch(ctx, []pushi.Event{{Channel: "private-sdk", Name: "b1", Data: "1"}, {Channel: "private-sdk", Name: "b2", Data: "2"}}); err != nil {
		t.Fatal(err)
	}
	a.expectRaw(`{"event":"b1","channel":"private-sdk","data":"1"}`)
	a.expectRaw(`{"event":"b2","channel":"private-sdk","data":"2"}`)

	chans, err := sdk.Channels(ctx, pushi.ChannelsQuery{Prefix: "presence-", Info: []string{"user_count"}})
	if err != nil || len(chans) != 1 || chans["presence-sdk"].UserCount != 1 {
		t.Fatalf("Channels = %+v, %v", chans, err)
	}
	ch, err := sdk.Channel(ctx, "presence-sdk", "user_count")
	if err != nil || !ch.Occupied || ch.UserCount != 1 {
		t.Fatalf("Channel = %+v, %v", ch, err)
	}
	users, err := sdk.Users(ctx, "presence-sdk")
	if err != nil || len(users) != 1 || users[0] != "u1" {
		t.Fatalf("Users = %v, %v", users, err)
	}

	// Sign-in, sendToUser, terminate.
	body, err = sdk.AuthenticateUser(b.socketID, pushi.User{ID: "u9"})
	if err != nil {
		t.Fatal(err)
	}
	b.signinWith(body)
	b.subscribe("#server-to-user-u9", map[string]any{"auth": ""})
	if err := sdk.SendToUser(ctx, "u9", "hi", "note"); err != nil {
		t.Fatal(err)
	}
	b.expectRaw(`{"event":"note","channel":"#server-to-user-u9","data":"hi"}`)
	if err := sdk.TerminateUserConnections(ctx, "u9"); err != nil {
		t.Fatal(err)
	}
	b.expectRaw(`{"event":"pusher:error","data":{"code":4009,"message":"Connection terminated by the server"}}`)
	b.expectClose(4009)
	// a was not signed in as u9 and stays connected.
	// b's socket was u1's second in presence-sdk: no member_removed for a.
	a.send("pusher:ping", map[string]any{})
	a.expectRaw(`{"event":"pusher:pong","data":"{}"}`)

	// Server errors come back typed.
	bad := pushi.New("100001", "key-basic", "wrong", pushi.WithBaseURL(s.apiURL))
	var perr *pushi.Error
	if err := bad.TriggerEvent(ctx, "x", "d", "e"); !asError(err, &perr) || perr.Status != 401 {
		t.Fatalf("wrong secret: %v", err)
	}
}

// The SDK encrypts for private-encrypted- channels; the server forwards the
// envelope untouched and the shared secret from AuthorizeChannel opens it.
func TestOwnSDKEncryptedChannel(t *testing.T) {
	s := startServer(t, nil)
	sdk := pushi.New("100001", "key-basic", "secret-basic", pushi.WithBaseURL(s.apiURL), pushi.WithEncryptionMasterKey(masterKeyB64))
	c := s.connect(t, "key-basic")
	body, err := sdk.AuthorizeChannel(c.socketID, "private-encrypted-own", nil)
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		Auth         string `json:"auth"`
		SharedSecret string `json:"shared_secret"`
	}
	json.Unmarshal(body, &auth)
	c.subscribe("private-encrypted-own", map[string]any{"auth": auth.Auth})
	if err := sdk.TriggerEvent(context.Background(), "private-encrypted-own", map[string]string{"m": "hi"}, "secret"); err != nil {
		t.Fatal(err)
	}
	if plain := openEnvelope(t, auth.SharedSecret, c.expectEvent("secret").dataString(t)); plain != `{"m":"hi"}` {
		t.Fatalf("decrypted %q", plain)
	}
}
