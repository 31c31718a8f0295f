package server

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/signature"
)

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// signedRequest sends a Pusher-signed API request and returns status and body.
func (s *testServer) signedRequest(t testing.TB, method, path, key, secret string, query url.Values, body []byte) (int, map[string]any) {
	t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("auth_key", key)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("auth_version", "1.0")
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	params := signature.ParseQuery(q.Encode())
	q.Set("auth_signature", protocol.Sign(secret, signature.StringToSign(method, path, params)))
	return s.rawRequest(t, method, path+"?"+q.Encode(), body)
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
