package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/testkit"
)

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// signedRequest sends a Pusher-signed API request and returns status and body.
func (s *testServer) signedRequest(t testing.TB, method, path, key, secret string, query url.Values, body []byte) (int, map[string]any) {
	t.Helper()
	return s.rawRequest(t, method, testkit.SignedTarget(method, path, key, secret, query, body), body)
}

func (s *testServer) rawRequest(t testing.TB, method, pathAndQuery string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.apiURL+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, pathAndQuery, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %s", method, pathAndQuery, raw)
	}
	return resp.StatusCode, out
}

// trigger publishes through the HTTP API as app "basic" or "full".
func (s *testServer) trigger(t testing.TB, key, secret, appID string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return s.signedRequest(t, "POST", "/apps/"+appID+"/events", key, secret, nil, b)
}

func channelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + protocol.Sign(secret, protocol.ChannelAuthMessage(socketID, channel, channelData))
}

func protocolSocketID(s string) bool { return protocol.IsValidSocketID(s) }

// Apps of testAppsJSON as (id, key, secret).
type testApp struct{ id, key, secret string }

var (
	appBasic = testApp{"100001", "key-basic", "secret-basic"}
	appFull  = testApp{"100002", "key-full", "secret-full"}
	appOff   = testApp{"100003", "key-off", "secret-off"}
	appAuth  = testApp{"100005", "key-auth", "secret-auth"}
)

// api sends a signed request as app a; path is relative to /apps/{id}.
func (s *testServer) api(t testing.TB, a testApp, method, path string, query url.Values, body string) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return s.signedRequest(t, method, "/apps/"+a.id+path, a.key, a.secret, query, b)
}

// publish triggers name on channel with string data as app a and wants 200 {}.
func (s *testServer) publish(t testing.TB, a testApp, channel, name, data string) {
	t.Helper()
	status, body := s.trigger(t, a.key, a.secret, a.id, map[string]any{"name": name, "channel": channel, "data": data})
	if status != 200 || len(body) != 0 {
		t.Fatalf("trigger %s on %s: %d %v", name, channel, status, body)
	}
}

// expectError reads a pusher:error frame and checks its code (nil = null)
// and that data is an object with a non-empty string message.
func (c *wsClient) expectError(code any) frame {
	c.t.Helper()
	f := c.expectEvent("pusher:error")
	if f.Channel != "" {
		c.t.Fatalf("pusher:error with a channel: %s", f.raw)
	}
	var d struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil || len(f.Data) == 0 || f.Data[0] != '{' {
		c.t.Fatalf("pusher:error data is not an object: %s", f.raw)
	}
	if d.Message == nil || *d.Message == "" {
		c.t.Fatalf("pusher:error without message: %s", f.raw)
	}
	switch want := code.(type) {
	case nil:
		if d.Code != nil || !bytes.Contains(f.Data, []byte(`"code":null`)) {
			c.t.Fatalf("want code null: %s", f.raw)
		}
	case int:
		if d.Code == nil || *d.Code != want {
			c.t.Fatalf("want code %d: %s", want, f.raw)
		}
	}
	return f
}

// pingPong proves the socket is open and in sync: pusher:ping is answered
// with the exact pong and nothing else is pending before it.
func (c *wsClient) pingPong() {
	c.t.Helper()
	c.sendText(`{"event":"pusher:ping","data":{}}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
}

// expectSubError reads a pusher:subscription_error and checks type/status.
func (c *wsClient) expectSubError(channel, typ string, status int) {
	c.t.Helper()
	f := c.expectEvent("pusher:subscription_error")
	if f.Channel != channel {
		c.t.Fatalf("subscription_error on %q, want %q: %s", f.Channel, channel, f.raw)
	}
	var d struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(f.dataString(c.t)), &d); err != nil {
		c.t.Fatal(err)
	}
	if d.Type != typ || d.Status != status || d.Error == "" {
		c.t.Fatalf("subscription_error %s, want type %s status %d", f.raw, typ, status)
	}
}

// subscribePresence joins a presence channel with a valid signature over
// channelData and returns the subscription_succeeded frame.
func (c *wsClient) subscribePresence(a testApp, channel, channelData string) frame {
	c.t.Helper()
	return c.subscribe(channel, map[string]any{"auth": channelAuth(a.key, a.secret, c.socketID, channel, channelData), "channel_data": channelData})
}

// subscribePrivate joins a private (or encrypted) channel with a valid signature.
func (c *wsClient) subscribePrivate(a testApp, channel string) frame {
	c.t.Helper()
	return c.subscribe(channel, map[string]any{"auth": channelAuth(a.key, a.secret, c.socketID, channel, "")})
}

// sendSignin sends pusher:signin with a valid signature over userData.
func (c *wsClient) sendSignin(a testApp, userData string) {
	c.t.Helper()
	c.send("pusher:signin", map[string]any{"auth": a.key + ":" + protocol.Sign(a.secret, protocol.SigninMessage(c.socketID, userData)), "user_data": userData})
}

// signin signs in and expects the exact signin_success frame.
func (c *wsClient) signin(a testApp, userData string) {
	c.t.Helper()
	c.sendSignin(a, userData)
	ud, _ := json.Marshal(userData)
	c.expectRaw(`{"event":"pusher:signin_success","data":{"user_data":` + string(ud) + `}}`)
}

// checkOthersServed proves the server still serves everyone else: a new
// client subscribes and receives a triggered event.
func (s *testServer) checkOthersServed(t testing.TB) {
	t.Helper()
	c := s.connect(t, appBasic.key)
	c.subscribe("alive", nil)
	s.publish(t, appBasic, "alive", "ok", "1")
	c.expectRaw(`{"event":"ok","channel":"alive","data":"1"}`)
}

// expectUnordered reads len(want) frames and checks they are exactly want,
// in any order.
func (c *wsClient) expectUnordered(want ...string) {
	c.t.Helper()
	left := map[string]int{}
	for _, w := range want {
		left[w]++
	}
	for range want {
		f := c.next()
		if left[f.raw] == 0 {
			c.t.Fatalf("unexpected frame %s, want one of %v", f.raw, left)
		}
		left[f.raw]--
	}
}

func asError[T error](err error, target *T) bool { return errors.As(err, target) }

// mustJSON re-encodes a decoded body (map keys sorted) for exact comparison.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func url1(k, v string) url.Values { return url.Values{k: {v}} }

func mustConfig(t testing.TB, vars map[string]string) *config.Config {
	t.Helper()
	withTestStore(t, vars)
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// signinWith sends pusher:signin with an auth endpoint's JSON answer
// ({"auth","user_data"}) and returns the signin_success frame.
func (c *wsClient) signinWith(authJSON []byte) frame {
	c.t.Helper()
	var signin struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal(authJSON, &signin); err != nil {
		c.t.Fatal(err)
	}
	c.send("pusher:signin", map[string]any{"auth": signin.Auth, "user_data": signin.UserData})
	return c.expectEvent("pusher:signin_success")
}

// openEnvelope decrypts a {"nonce","ciphertext"} event as pusher-js does,
// with the base64 shared secret an auth endpoint returned.
func openEnvelope(t testing.TB, sharedSecret, data string) string {
	t.Helper()
	var env struct{ Nonce, Ciphertext string }
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		t.Fatalf("not an envelope: %q", data)
	}
	key, _ := base64.StdEncoding.DecodeString(sharedSecret)
	nonce, _ := base64.StdEncoding.DecodeString(env.Nonce)
	box, _ := base64.StdEncoding.DecodeString(env.Ciphertext)
	var k [32]byte
	var n [24]byte
	copy(k[:], key)
	copy(n[:], nonce)
	plain, ok := secretbox.Open(nil, box, &n, &k)
	if !ok {
		t.Fatalf("envelope does not open with the shared secret")
	}
	return string(plain)
}

// storedSuffix is what a persisted event's live frame adds at its end.
var storedSuffix = regexp.MustCompile(`,"mid":"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}","seq":([0-9]+),"timestamp":[0-9]+\.[0-9]{3}}$`)

// expectStored reads the next frame: want (a Pusher frame) followed by
// exactly the mid, seq and timestamp of a persisted event. It returns seq.
func (c *wsClient) expectStored(want string) int64 {
	c.t.Helper()
	f := c.next()
	m := storedSuffix.FindStringSubmatchIndex(f.raw)
	if m == nil || f.raw[:m[0]]+"}" != want {
		c.t.Fatalf("frame\n got: %s\nwant: %s with mid, seq and timestamp", f.raw, want)
	}
	seq, _ := strconv.ParseInt(f.raw[m[2]:m[3]], 10, 64)
	return seq
}

// sendClose sends a close frame with code and reads the server's echo.
func (c *wsClient) sendClose(code int) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.rw, ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), "")); err != nil {
		c.t.Fatal(err)
	}
	c.expectClose(code)
}
