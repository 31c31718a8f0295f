package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
)

func TestParseFollow(t *testing.T) {
	app := testApp()
	long := strings.Repeat("u", 129)
	cases := []struct {
		body          string
		user, channel string // "" = refused with 400
	}{
		{`{"user_id":"42","event":"news"}`, "42", "news"},
		{`{"user_id":42,"channel":"presence-room"}`, "42", "presence-room"},
		{`{"user_id":"a=b@c","event":"private-x","channel":"private-x"}`, "a=b@c", "private-x"},
		{`{"user_id":"u","event":"peer-chat:a&b"}`, "u", "peer-chat:a&b"},
		{`{"user_id":"` + long[:128] + `","event":"news"}`, long[:128], "news"},
		{`{"user_id":"` + long + `","event":"news"}`, "", ""},
		{`{"user_id":"a b","event":"news"}`, "", ""},
		{`{"user_id":"","event":"news"}`, "", ""},
		{`{"user_id":1.5,"event":"news"}`, "", ""},
		{`{"user_id":true,"event":"news"}`, "", ""},
		{`{"event":"news"}`, "", ""},
		{`{"user_id":"42"}`, "", ""},
		{`{"user_id":"42","event":"a","channel":"b"}`, "", ""},
		{`{"user_id":"42","event":"bad name"}`, "", ""},
		{`{"user_id":"42","event":"` + strings.Repeat("c", 201) + `"}`, "", ""},
		{`{"user_id":"42","event":"personal-7"}`, "", ""},
		{`{"user_id":"42","event":"#server-to-user-7"}`, "", ""},
		{`{"user_id":"42","event":5}`, "", ""},
		{`{"user_id":"42","event":"news"`, "", ""},
		{`[]`, "", ""},
		{``, "", ""},
	}
	for _, tc := range cases {
		user, channel, err := parseFollow(app, []byte(tc.body))
		if tc.user == "" {
			if he, ok := err.(*httpError); !ok || he.status != http.StatusBadRequest {
				t.Errorf("%.80s: got %q %q %v, want 400", tc.body, user, channel, err)
			}
			continue
		}
		if err != nil || user != tc.user || channel != tc.channel {
			t.Errorf("%.80s: got %q %q %v, want %q %q", tc.body, user, channel, err, tc.user, tc.channel)
		}
	}
}

// failingFollows answers every follow call with err.
type failingFollows struct {
	store.Store
	err error
}

func (f failingFollows) Follow(context.Context, store.Follow, int) (store.Follow, bool, error) {
	return store.Follow{}, false, f.err
}
func (f failingFollows) Unfollow(context.Context, string, string, string) (bool, error) {
	return false, f.err
}
func (f failingFollows) ListFollows(context.Context, string, store.FollowQuery) ([]store.Follow, string, error) {
	return nil, "", f.err
}

func TestFollowStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{store.ErrTooManyFollows, 400},
		{store.ErrUnavailable, 503},
	} {
		url := followServer(t, failingFollows{err: tc.err})
		status, body := signedCall(t, url, "POST", "/apps/1/subscribe", `{"user_id":"42","event":"news"}`)
		if status != tc.status || body["code"] != float64(tc.status) || body["error"] == "" {
			t.Errorf("follow with %v: %d %v, want %d", tc.err, status, body, tc.status)
		}
	}
	url := followServer(t, failingFollows{err: store.ErrUnavailable})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/apps/1/unsubscribe", `{"user_id":"42","event":"news"}`},
		{"GET", "/apps/1/subscriptions", ""},
	} {
		if status, body := signedCall(t, url, c.method, c.path, c.body); status != 503 {
			t.Errorf("%s %s: %d %v, want 503", c.method, c.path, status, body)
		}
	}
	// Without a store the routes answer 503 too, after validation.
	url = followServer(t, nil)
	if status, _ := signedCall(t, url, "POST", "/apps/1/subscribe", `{"user_id":"42","event":"news"}`); status != 503 {
		t.Errorf("no store: %d, want 503", status)
	}
	if status, _ := signedCall(t, url, "POST", "/apps/1/subscribe", `{"user_id":"42","event":"personal-1"}`); status != 400 {
		t.Errorf("no store, bad body: %d, want 400", status)
	}
}

func followServer(t *testing.T, st store.Store) string {
	t.Helper()
	a, _ := newTestAPI(t, st, Options{}, *testApp()) // the follows go through the node's store
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

// signedCall sends a request signed as testApp (key k, secret s).
func signedCall(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+testkit.SignedTarget(method, path, "k", "s", nil, []byte(body)), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, out
}
