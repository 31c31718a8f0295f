package server

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// apiRaw sends a request signed as a with rawQuery exactly as given (keys
// in any case or escaping), plus the auth parameters.
func (s *testServer) apiRaw(t testing.TB, a testApp, method, path, rawQuery string) (int, map[string]any) {
	t.Helper()
	path = "/apps/" + a.id + path
	q := rawQuery
	if q != "" {
		q += "&"
	}
	q += testkit.AuthParams(a.key, time.Now(), nil).Encode()
	q += "&auth_signature=" + testkit.Signature(a.secret, method, path, q)
	return s.rawRequest(t, method, path+"?"+q, nil)
}

// The signature reads query keys lower-cased, unescaped and with repeats
// joined, so "LIMIT=1", "li%6Dit=1" and "limit=1" carry the same valid
// signature; handlers read their parameters the same way, and a repeated
// or non-canonical key they read is refused with a 400 naming it, so a
// captured signed request cannot be reshaped into one that answers
// differently (issue 10, finding 8).
func TestSignedQueryKeysCanonical(t *testing.T) {
	s := startPersistServer(t, nil)
	s.followAPI(t, appStore, true, "ann", "news-q")
	s.followAPI(t, appStore, true, "bob", "news-other")
	s.persistN(t, appStore, "news-q", 3)

	count := func(body map[string]any, key string) int { l, _ := body[key].([]any); return len(l) }
	// The SDKs' form (lower-case keys, once each) answers as asked.
	if status, body := s.apiRaw(t, appStore, "GET", "/channels/news-q/events", "limit=1"); status != 200 || count(body, "events") != 1 {
		t.Fatalf("limit=1: %d %v", status, body)
	}
	if status, body := s.apiRaw(t, appStore, "GET", "/subscriptions", "user_id=ann"); status != 200 || count(body, "subscriptions") != 1 {
		t.Fatalf("user_id=ann: %d %v", status, body)
	}
	if status, body := s.apiRaw(t, appStore, "GET", "/users/ann/events", "limit=2"); status != 200 || count(body, "events") != 2 {
		t.Fatalf("inbox limit=2: %d %v", status, body)
	}

	cases := []struct{ path, query, key string }{
		{"/channels/news-q/events", "LIMIT=1", `"LIMIT"`},
		{"/channels/news-q/events", "Limit=1", `"Limit"`},
		{"/channels/news-q/events", "li%6Dit=1", `"li%6Dit"`},
		{"/channels/news-q/events", "limit=1&limit=3", `"limit" is given more than once`},
		{"/channels/news-q/events", "limit=1&LIMIT=3", `"LIMIT"`},
		{"/channels/news-q/events", "Before=3", `"Before"`},
		{"/channels/news-q/events", "AFTER=1", `"AFTER"`},
		{"/channels/news-q/events", "after=1&after=2", `"after" is given more than once`},
		{"/users/ann/events", "LIMIT=1", `"LIMIT"`},
		{"/users/ann/events", "BEFORE=00000000-0000-0000-0000-000000000000", `"BEFORE"`},
		{"/subscriptions", "User_Id=ann", `"User_Id"`},
		{"/subscriptions", "USER_ID=ann", `"USER_ID"`},
		{"/subscriptions", "user%5Fid=ann", `"user%5Fid"`},
		{"/subscriptions", "user_id=ann&user_id=bob", `"user_id" is given more than once`},
		{"/subscriptions", "Event=news-q", `"Event"`},
		{"/channels", "FILTER_BY_PREFIX=news-", `"FILTER_BY_PREFIX"`},
		{"/channels/news-q", "INFO=subscription_count", `"INFO"`},
	}
	for _, tc := range cases {
		status, body := s.apiRaw(t, appStore, "GET", tc.path, tc.query)
		msg, _ := body["error"].(string)
		if status != 400 || body["code"] != float64(400) || !strings.Contains(msg, tc.key) {
			t.Errorf("GET %s?%s: %d %.200s, want 400 naming %s (events %d, subscriptions %d)",
				tc.path, tc.query, status, mustJSON(t, body), tc.key, count(body, "events"), count(body, "subscriptions"))
		}
	}
	// The legacy trigger reads name and socket_id from the query.
	status, body := s.signedRequest(t, "POST", "/apps/"+appStore.id+"/channels/plain/events", appStore.key, appStore.secret, map[string][]string{"NAME": {"e"}}, []byte("x"))
	if status != 400 || !strings.Contains(body["error"].(string), `"NAME"`) {
		t.Errorf("legacy trigger with NAME=: %d %v, want 400 naming NAME", status, body)
	}
	// An auth parameter in another case verifies too, and is refused.
	path := "/apps/" + appStore.id + "/channels"
	q := "AUTH_KEY=" + appStore.key + "&auth_timestamp=" + strconv.FormatInt(time.Now().Unix(), 10) + "&auth_version=1.0"
	q += "&auth_signature=" + testkit.Signature(appStore.secret, "GET", path, q)
	if status, body := s.rawRequest(t, "GET", path+"?"+q, nil); status != 400 || !strings.Contains(body["error"].(string), `"AUTH_KEY"`) {
		t.Errorf("AUTH_KEY: %d %v, want 400 naming AUTH_KEY", status, body)
	}
}
