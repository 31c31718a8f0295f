package bench

import (
	"strings"
	"testing"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/signature"
)

// docs/protocol.md §16: the Pusher HTTP POST test vector.
func TestSignerVector(t *testing.T) {
	const (
		secret = "7ad3773142a6692b25b8"
		key    = "278d425bdf160c739803"
		str    = "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
		want   = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
		body   = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	)
	if got := protocol.Sign(secret, str); got != want {
		t.Fatalf(
			"Sign = %s, want %s",
			got, want)
	}
	s := Signer{AppID: "3", Key: key, Secret: secret}
	q := s.SignedQuery("POST", "/apps/3/events", []byte(body), 1353088179)
	params := signature.ParseQuery(q)
	if got := signature.StringToSign("POST", "/apps/3/events", params); got != str {
		t.Fatalf(
			"string to sign = %q, want %q",
			got, str)
	}
	if sig, _ := signature.Get(params, "auth_signature"); sig != want {
		t.Fatalf(
			"auth_signature = %s, want %s (query %s)",
			sig, want, q)
	}
	if !strings.HasSuffix(q, "&auth_signature="+want) {
		t.Errorf(
			"auth_signature is not last: %s",
			q)
	}
}

// The query the publisher builds passes the server's own verifier.
func TestSignedQueryVerifies(t *testing.T) {
	s := Signer{AppID: "app-id", Key: "app-key", Secret: "app-secret"}
	body := []byte(`{"name":"bench","channel":"c","data":"x"}`)
	now := int64(1_700_000_000)
	req := signature.Request{Method: "POST", Paths: []string{"/apps/app-id/events"}, RawQuery: s.SignedQuery("POST", "/apps/app-id/events", body, now), Body: body}
	if err := signature.Verify(req, "app-key", []string{"app-secret"}, unixTime(now)); err != nil {
		t.Fatalf(
			"Verify: %v",
			err)
	}
}

func TestChannelAuthVectors(t *testing.T) {
	s := Signer{Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}
	cases := []struct {
		channel, data, want string
	}{
		{
			channel: "private-foobar",
			want:    "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
		},
		{
			channel: "presence-foobar",
			data:    `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`,
			want:    "278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c",
		},
	}
	for _, c := range cases {
		if got := s.ChannelAuth("1234.1234", c.channel, c.data); got != c.want {
			t.Errorf(
				"ChannelAuth(%s) = %s, want %s",
				c.channel, got, c.want)
		}
	}
}
