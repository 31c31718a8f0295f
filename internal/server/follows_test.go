package server

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The follow API (docs/features.md §6): validation, limits, listing.

func TestFollowAPIBadInput(t *testing.T) {
	s := startPushiServer(t)
	long := strings.Repeat("u", 129)
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"malformed JSON", "POST", "/subscribe", `{"user_id":"1","event":"news"`, 400},
		{"not an object", "POST", "/subscribe", `["news"]`, 400},
		{"empty body", "POST", "/subscribe", ``, 400},
		{"no user", "POST", "/subscribe", `{"event":"news"}`, 400},
		{"no channel", "POST", "/subscribe", `{"user_id":"1"}`, 400},
		{"user outside the alphabet", "POST", "/subscribe", `{"user_id":"a/b","event":"news"}`, 400},
		{"user too long", "POST", "/subscribe", `{"user_id":"` + long + `","event":"news"}`, 400},
		{"user wrong type", "POST", "/subscribe", `{"user_id":{"id":1},"event":"news"}`, 400},
		{"bad channel name", "POST", "/subscribe", `{"user_id":"1","event":"a b"}`, 400},
		{"channel too long", "POST", "/subscribe", `{"user_id":"1","event":"` + strings.Repeat("c", 201) + `"}`, 400},
		{"personal channel", "POST", "/subscribe", `{"user_id":"1","event":"personal-2"}`, 400},
		{"server-to-user channel", "POST", "/subscribe", `{"user_id":"1","event":"#server-to-user-2"}`, 400},
		{"event and channel differ", "POST", "/subscribe", `{"user_id":"1","event":"a","channel":"b"}`, 400},
		{"unsubscribe bad name", "POST", "/unsubscribe", `{"user_id":"1","event":"#x"}`, 400},
		{"wrong method", "GET", "/subscribe", ``, 405},
		{"listing bad limit", "GET", "/subscriptions?limit=0", ``, 400},
		{"listing limit over 1000", "GET", "/subscriptions?limit=1001", ``, 400},
		{"listing bad user", "GET", "/subscriptions?user_id=a%20b", ``, 400},
		{"listing bad channel", "GET", "/subscriptions?event=a%20b", ``, 400},
		{"listing bad cursor", "GET", "/subscriptions?cursor=%21%21", ``, 400},
	}
	for _, tc := range cases {
		path, rawQuery, _ := strings.Cut(tc.path, "?")
		query, _ := url.ParseQuery(rawQuery)
		status, body := s.api(t, appPeer, tc.method, path, query, tc.body)
		if status != tc.status || body["code"] != float64(tc.status) || body["error"] == "" || len(body) != 2 {
			t.Errorf("%s: %d %v, want a %d JSON error", tc.name, status, body, tc.status)
		}
	}
	// Unknown app, bad signature, disabled app.
	status, body := s.signedRequest(t, "POST", "/apps/999/subscribe", appPeer.key, appPeer.secret, nil, []byte(`{"user_id":"1","event":"news"}`))
	if status != 404 || body["code"] != float64(404) {
		t.Errorf("unknown app: %d %v", status, body)
	}
	status, body = s.signedRequest(t, "POST", "/apps/"+appPeer.id+"/subscribe", appPeer.key, "wrong", nil, []byte(`{"user_id":"1","event":"news"}`))
	if status != 401 || body["code"] != float64(401) {
		t.Errorf("bad signature: %d %v", status, body)
	}
	// Nothing was stored by any of them.
	if body := s.listFollows(t, appPeer, nil); mustJSON(t, body) != `{"next":null,"subscriptions":[]}` {
		t.Fatalf("follows after bad requests: %v", body)
	}
}

func TestFollowLimitAndListing(t *testing.T) {
	s := startServerWithApps(t, `{"apps":[{"id":"300001","key":"key-f","secret":"secret-f","name":"f","limits":{"max_follows_per_user":3}}]}`, nil)
	a := testApp{"300001", "key-f", "secret-f"}
	for _, ch := range []string{"c", "a", "private-x"} {
		s.followAPI(t, a, true, "u1", ch)
	}
	// Integer user ids are their decimal string.
	status, body := s.api(t, a, "POST", "/subscribe", nil, `{"user_id":17,"event":"a"}`)
	if status != 200 || body["subscription"].(map[string]any)["user_id"] != "17" {
		t.Fatalf("integer user id: %d %v", status, body)
	}
	// A fourth follow is over max_follows_per_user: 400, nothing stored;
	// following an existing one again is fine.
	status, body = s.api(t, a, "POST", "/subscribe", nil, `{"user_id":"u1","event":"d"}`)
	if status != 400 || body["code"] != float64(400) {
		t.Fatalf("over the follow limit: %d %v", status, body)
	}
	s.followAPI(t, a, true, "u1", "a")

	// Listing by user, paged.
	var seen []string
	query := url.Values{"user_id": {"u1"}, "limit": {"2"}}
	for page := 0; ; page++ {
		body := s.listFollows(t, a, query)
		for _, f := range body["subscriptions"].([]any) {
			m := f.(map[string]any)
			if m["user_id"] != "u1" || m["created_at"].(float64) <= 0 || len(m) != 3 {
				t.Fatalf("follow %v", m)
			}
			seen = append(seen, m["event"].(string))
		}
		next, _ := body["next"].(string)
		if next == "" {
			if body["next"] != nil {
				t.Fatalf("next %v, want null", body["next"])
			}
			break
		}
		if page > 3 {
			t.Fatal("listing does not end")
		}
		query.Set("cursor", next)
	}
	if strings.Join(sortedCopy(seen), ",") != "a,c,private-x" {
		t.Fatalf("follows of u1: %v", seen)
	}
	// Listing by channel ("channel" accepted for "event").
	for _, key := range []string{"event", "channel"} {
		body := s.listFollows(t, a, url.Values{key: {"a"}})
		var users []string
		for _, f := range body["subscriptions"].([]any) {
			users = append(users, f.(map[string]any)["user_id"].(string))
		}
		if strings.Join(sortedCopy(users), ",") != "17,u1" {
			t.Fatalf("followers of a (%s): %v", key, users)
		}
	}
	// Removing frees a slot.
	s.followAPI(t, a, false, "u1", "c")
	s.followAPI(t, a, true, "u1", "d")
}

// A peer channel belongs to its two users: a follow by a third would let
// that user read it through personal-<id> and write to it (issue 10,
// finding 13). The route refuses it; an unfollow of one stays possible.
func TestFollowRefusedOnPeerChannel(t *testing.T) {
	s := startPushiServer(t)
	for _, ch := range []string{"peer-chat:alice&bob", "peer-x", "peer-cache-room:1&2"} {
		status, body := s.api(t, appPeer, "POST", "/subscribe", nil, `{"user_id":"mallory","event":"`+ch+`"}`)
		msg, _ := body["error"].(string)
		if status != 400 || body["code"] != float64(400) || !strings.Contains(msg, "peer- channels") {
			t.Errorf("follow %s: %d %v, want 400 naming peer- channels", ch, status, body)
		}
		// "channel" is accepted for "event": the same refusal.
		if status, body := s.api(t, appPeer, "POST", "/subscribe", nil, `{"user_id":"mallory","channel":"`+ch+`"}`); status != 400 {
			t.Errorf("follow %s as channel: %d %v, want 400", ch, status, body)
		}
	}
	if body := s.listFollows(t, appPeer, nil); mustJSON(t, body) != `{"next":null,"subscriptions":[]}` {
		t.Fatalf("follows after refused peer follows: %v", body)
	}
	// Unfollowing a peer channel (a follow stored before the check) works.
	if body := s.followAPI(t, appPeer, false, "mallory", "peer-chat:alice&bob"); body["removed"] != false {
		t.Fatalf("unfollow: %v", body)
	}
	// Channels that merely contain "peer-" are ordinary.
	s.followAPI(t, appPeer, true, "mallory", "private-peer-notes")
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
