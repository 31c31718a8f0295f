package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	cases := []struct {
		name  string
		kind  Kind
		cache bool
		err   error
	}{
		{"news", Public, false, nil},
		{"cache-prices", Public, true, nil},
		{"private-x", Private, false, nil},
		{"private-cache-x", Private, true, nil},
		{"private-encrypted-x", Encrypted, false, nil},
		{"private-encrypted-cache-x", Encrypted, true, nil},
		{"presence-room", Presence, false, nil},
		{"presence-cache-room", Presence, true, nil},
		{"#server-to-user-42", ServerToUser, false, nil},
		{"personal-42", Personal, false, nil},
		{"peer-chat:alice&bob", Peer, false, nil},
		// Anchored prefixes: a type word elsewhere in the name means nothing.
		{"my-private-x", Public, false, nil},
		{"xpresence-room", Public, false, nil},
		{"a=b@c,d.e;f_g-h", Public, false, nil},
		{"", Public, false, ErrChannelEmpty},
		{strings.Repeat("a", 201), Public, false, ErrChannelTooLong},
		{strings.Repeat("a", 200), Public, false, nil},
		{"has space", Public, false, ErrChannelChars},
		{"#other", Public, false, ErrChannelChars},
		{"#server-to-user-", Public, false, ErrChannelChars},
		{"#server-to-user-a#b", Public, false, ErrChannelChars},
		{"news:x", Public, false, ErrChannelChars},
		{"private-a&b", Public, false, ErrChannelChars},
		{"ünïcode", Public, false, ErrChannelChars},
	}
	for _, tc := range cases {
		ch, err := ParseChannel(tc.name, 200)
		if err != tc.err {
			t.Errorf("%q: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && (ch.Kind != tc.kind || ch.Cache != tc.cache) {
			t.Errorf("%q: got %v cache=%v, want %v cache=%v", tc.name, ch.Kind, ch.Cache, tc.kind, tc.cache)
		}
	}
}

// Test vectors from docs/protocol.md §16 and docs/features.md §3.
func TestAuthVectors(t *testing.T) {
	const key, secret = "278d425bdf160c739803", "7ad3773142a6692b25b8"
	cases := []struct{ msg, digest string }{
		{ChannelAuthMessage("1234.1234", "private-foobar", ""), "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{ChannelAuthMessage("1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`), "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
		{SigninMessage("1234.1234", `{"id":"12345"}`), "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
		{ChannelAuthMessage("1234.1234", "personal-42", ""), "2cab66effe264059432fadf78985c2ded0fc982162c5b9a45f9b494abe9d4fbe"},
		{`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`, "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"},
	}
	for _, tc := range cases {
		if got := Sign(secret, tc.msg); got != tc.digest {
			t.Errorf("Sign(%q) = %s, want %s", tc.msg, got, tc.digest)
		}
		if !VerifyAuth(key+":"+tc.digest, key, tc.msg, []string{"old", secret}) {
			t.Errorf("VerifyAuth refused the vector for %q", tc.msg)
		}
		if VerifyAuth("other:"+tc.digest, key, tc.msg, []string{secret}) {
			t.Errorf("VerifyAuth accepted a wrong key prefix")
		}
		if VerifyAuth(key+":"+tc.digest[:62], key, tc.msg, []string{secret}) {
			t.Errorf("VerifyAuth accepted a truncated signature")
		}
	}
}

func TestDecodeFrame(t *testing.T) {
	cases := []struct {
		in      string
		event   string
		channel string
		hasCh   bool
		data    string
		wantErr bool
	}{
		{`{"event":"pusher:ping","data":{}}`, "pusher:ping", "", false, `{}`, false},
		{`{"event":"client-x","channel":"private-a","data":"s"}`, "client-x", "private-a", true, `"s"`, false},
		{`{"event":"pusher:subscribe"}`, "pusher:subscribe", "", false, "", false},
		{`{"event":"e","channel":null,"data":null}`, "e", "", false, "", false},
		{`{"event":1}`, "", "", false, "", true},
		{`{"data":{}}`, "", "", false, "", true},
		{`{"event":""}`, "", "", false, "", true},
		{`{"event":"e","channel":5}`, "", "", false, "", true},
		{`not json`, "", "", false, "", true},
		{`[]`, "", "", false, "", true},
		{``, "", "", false, "", true},
	}
	for _, tc := range cases {
		f, err := DecodeFrame([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if err == nil && (f.Event != tc.event || f.Channel != tc.channel || f.HasChannel != tc.hasCh || string(f.Data) != tc.data) {
			t.Errorf("%s: got %+v", tc.in, f)
		}
	}
}

func TestDataTextAndDecodeData(t *testing.T) {
	if s, _ := DataText(json.RawMessage(`"{\"a\":1}"`)); s != `{"a":1}` {
		t.Errorf("string data: %q", s)
	}
	if s, _ := DataText(json.RawMessage(`{ "a" : [1, 2] }`)); s != `{"a":[1,2]}` {
		t.Errorf("object data: %q", s)
	}
	if _, err := DataText(nil); err != ErrMissingData {
		t.Errorf("missing data: %v", err)
	}
	var v struct{ Channel string }
	if err := DecodeData(json.RawMessage(`"{\"channel\":\"x\"}"`), &v); err != nil || v.Channel != "x" {
		t.Errorf("string-encoded object: %v %+v", err, v)
	}
	if err := DecodeData(json.RawMessage(`5`), &v); err != ErrDataType {
		t.Errorf("number data: %v", err)
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x00\x1f\n\r\t", "<&>", "ünï €", "bad\xffutf8", "line\u2028sep\u2029"} {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q round-tripped as %q", s, back)
		}
	}
}

func TestEncodeEventAndError(t *testing.T) {
	got := string(EncodeEvent(&Event{Name: "client-typing", Channel: "presence-room", Data: `{"on":true}`, UserID: []byte(`"2"`)}))
	if want := `{"event":"client-typing","channel":"presence-room","data":"{\"on\":true}","user_id":"2"}`; got != want {
		t.Errorf("event:\n got %s\nwant %s", got, want)
	}
	if got, want := string(EncodeError(4301, "Client event rate limit exceeded")), `{"event":"pusher:error","data":{"code":4301,"message":"Client event rate limit exceeded"}}`; got != want {
		t.Errorf("error: %s", got)
	}
	if got, want := string(EncodeError(0, "x")), `{"event":"pusher:error","data":{"code":null,"message":"x"}}`; got != want {
		t.Errorf("null code: %s", got)
	}
}

func TestSocketIDs(t *testing.T) {
	g := NewSocketIDs()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := g.Next()
		if !IsValidSocketID(id) || seen[id] {
			t.Fatalf("bad or duplicate socket id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "1", "1.", ".1", "01.1", "1.01", "a.1", "1.2.3", "12345678901234567890.1"} {
		if IsValidSocketID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzDecodeFrame: no input may panic, and what decodes re-encodes cleanly.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"event":"pusher:subscribe","data":{"channel":"x"}}`, `{"event":"client-a","channel":"private-b","data":"{\"x\":1}"}`, `{"event":"pusher:subscribe","data":"{\"channel\":5}"}`, `{"event":null}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if fr.Event == "" {
			t.Fatal("decoded a frame without event")
		}
		var sub struct {
			Channel     json.RawMessage `json:"channel"`
			ChannelData json.RawMessage `json:"channel_data"`
		}
		_ = DecodeData(fr.Data, &sub)
		if s, err := DataText(fr.Data); err == nil {
			out := EncodeEvent(&Event{Name: fr.Event, Channel: fr.Channel, Data: s})
			if !json.Valid(out) {
				t.Fatalf("re-encoded invalid JSON: %s", out)
			}
		}
		if _, err := ParseChannel(fr.Channel, 200); err == nil && fr.Channel == "" {
			t.Fatal("empty channel accepted")
		}
	})
}
