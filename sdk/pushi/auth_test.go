package pushi

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// Master key used by pusher-http-go's own tests; the expected outputs below
// were produced by pusher-http-go v5.1.1 with the §16 credentials.
const testMasterKey = "ZUhQVldIZzduRkdZVkJzS2pPRkRYV1JyaWJJUjJiMGI="

func vecClient(opts ...Option) *Client { return New(vecAppID, vecKey, vecSecret, opts...) }

// §16 "private" row, through the public API.
func TestAuthorizeChannelPrivateVector(t *testing.T) {
	got, err := vecClient().AuthorizeChannel("1234.1234", "private-foobar", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// §16 "presence" row: its channel_data has an integer user_id, which Member
// (string ids) cannot produce, so the signing step is checked directly.
func TestPresenceSignatureVector(t *testing.T) {
	got := channelSignature(vecSecret, "1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`)
	if want := "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := channelSignature(vecSecret, "1234.1234", "private-foobar", ""); got != "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4" {
		t.Errorf("private form: %s", got)
	}
}

// Same input through the public API, byte-identical to pusher-http-go.
func TestAuthorizeChannelPresenceMatchesOfficialSDK(t *testing.T) {
	got, err := vecClient().AuthorizeChannel("1234.1234", "presence-foobar",
		&Member{UserID: "10", UserInfo: map[string]string{"name": "Mr. Pusher"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auth":"278d425bdf160c739803:48dac51d2d7569e1e9c0f48c227d4b26f238fa68e5c0bb04222c966909c4f7c4","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Pusher\"}}"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// And the signature covers exactly the channel_data string returned.
	cd := `{"user_id":"10","user_info":{"name":"Mr. Pusher"}}`
	if !strings.Contains(string(got), channelSignature(vecSecret, "1234.1234", "presence-foobar", cd)) {
		t.Error("signature is not over the returned channel_data")
	}
}

func TestAuthorizeChannelPresenceWithoutUserInfo(t *testing.T) {
	got, err := vecClient().AuthorizeChannel("1.2", "presence-room", &Member{UserID: "7"})
	if err != nil {
		t.Fatal(err)
	}
	cd := `{"user_id":"7"}`
	want := `{"auth":"` + vecKey + ":" + hmacHex(vecSecret, "1.2:presence-room:"+cd) + `","channel_data":"{\"user_id\":\"7\"}"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Signin-derived presence (pusher-js >= 7.4) uses the private form.
func TestAuthorizeChannelPresenceWithoutMember(t *testing.T) {
	got, err := vecClient().AuthorizeChannel("1.2", "presence-room", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"auth":"` + vecKey + ":" + hmacHex(vecSecret, "1.2:presence-room") + `"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAuthorizeChannelEncrypted(t *testing.T) {
	got, err := vecClient(WithEncryptionMasterKey(testMasterKey)).AuthorizeChannel("1234.1234", "private-encrypted-foobar", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auth":"278d425bdf160c739803:e6a18892d037c5d5e76a2265df4f086ffc38631605530dfd214aa5bff495f533","shared_secret":"dn5KBrhGeaAbIypB71hz79XHoKfJ9Dtst6hVn0r8rLA="}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Independent derivation: sha256(channel name || master key).
	key, _ := base64.StdEncoding.DecodeString(testMasterKey)
	sum := sha256.Sum256([]byte("private-encrypted-foobar" + string(key)))
	if !strings.Contains(string(got), base64.StdEncoding.EncodeToString(sum[:])) {
		t.Error("shared_secret is not base64(sha256(channel || key))")
	}
}

func TestAuthorizeChannelEncryptedKeyErrors(t *testing.T) {
	cases := map[string]*Client{
		"no key":     vecClient(),
		"not base64": vecClient(WithEncryptionMasterKey("!!not base64!!")),
		"31 bytes":   vecClient(WithEncryptionMasterKey(base64.StdEncoding.EncodeToString(make([]byte, 31)))),
		"33 bytes":   vecClient(WithEncryptionMasterKey(base64.StdEncoding.EncodeToString(make([]byte, 33)))),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.AuthorizeChannel("1.2", "private-encrypted-x", nil)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
		})
	}
	// A bad key does not affect channels that do not need it.
	if _, err := vecClient(WithEncryptionMasterKey("bad")).AuthorizeChannel("1.2", "private-x", nil); err != nil {
		t.Errorf("private channel with bad master key: %v", err)
	}
}

func TestAuthorizeChannelRejectsBadInput(t *testing.T) {
	cases := []struct {
		name, socketID, channel string
		member                  *Member
	}{
		{"socket id without dot", "1234", "private-a", nil},
		{"socket id with letters", "12a.34", "private-a", nil},
		{"socket id trailing newline", "1.2\n", "private-a", nil},
		{"socket id with colon", "1.2:x", "private-a", nil},
		{"empty channel", "1.2", "", nil},
		{"bad channel char", "1.2", "private-a b", nil},
		{"long channel", "1.2", "private-" + strings.Repeat("a", 193), nil},
		{"empty member id", "1.2", "presence-a", &Member{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vecClient().AuthorizeChannel(tc.socketID, tc.channel, tc.member)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
		})
	}
}

// §16 "signin" row, through the public API.
func TestAuthenticateUserVector(t *testing.T) {
	got, err := vecClient().AuthenticateUser("1234.1234", User{ID: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba","user_data":"{\"id\":\"12345\"}"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if d := hmacHex(vecSecret, `1234.1234::user::{"id":"12345"}`); d != "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba" {
		t.Errorf("signin digest %s", d)
	}
}

func TestAuthenticateUserWithInfoAndWatchlist(t *testing.T) {
	got, err := vecClient().AuthenticateUser("1.2", User{ID: "ann", UserInfo: map[string]string{"name": "Ann <a@x>"}, Watchlist: []string{"bo", "cy"}})
	if err != nil {
		t.Fatal(err)
	}
	ud := `{"id":"ann","user_info":{"name":"Ann <a@x>"},"watchlist":["bo","cy"]}`
	want := `{"auth":"` + vecKey + ":" + hmacHex(vecSecret, "1.2::user::"+ud) + `","user_data":"{\"id\":\"ann\",\"user_info\":{\"name\":\"Ann <a@x>\"},\"watchlist\":[\"bo\",\"cy\"]}"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAuthenticateUserRejectsBadInput(t *testing.T) {
	cases := []struct {
		name, socketID string
		user           User
	}{
		{"bad socket id", "x", User{ID: "1"}},
		{"empty id", "1.2", User{}},
		{"id with space", "1.2", User{ID: "a b"}},
		{"id too long", "1.2", User{ID: strings.Repeat("a", 129)}},
		{"unencodable info", "1.2", User{ID: "1", UserInfo: func() {}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vecClient().AuthenticateUser(tc.socketID, tc.user)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
		})
	}
}
