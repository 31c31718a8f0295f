package webhook

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/testkit"
)

// Logs name an endpoint by host only, and strip the URL from errors: a
// webhook URL may hold a token.
func TestLogTextsHideTheURL(t *testing.T) {
	if h := host("https://user:pw@hooks.example:8443/p?token=s3cret"); h != "hooks.example:8443" {
		t.Fatalf("host %q", h)
	}
	err := &url.Error{Op: "Post", URL: "https://hooks.example/p?token=s3cret", Err: errors.New("connection refused")}
	if got := errText(err); got != "Post: connection refused" {
		t.Fatalf("errText %q", got)
	}
}

// TestRedirectsAreNotFollowed is issue 10's finding 10: an endpoint that
// answers 307 to another server does not get the signed POST re-sent
// there; the 3xx is a failed attempt, retried at the endpoint itself.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var asked atomic.Int32
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, other.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	d, reg := newDispatcher(t, fastOptions(), testApp(apps.Webhook{URL: redirector.URL}))
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c"})
	testkit.Eventually(t, 5*time.Second, "the body given up", func() bool { return d.Stats().Dropped == 1 || elsewhere.Load() > 0 })
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests, want none", n)
	}
	if s := d.Stats(); s.Sent != 0 || s.Failed < 2 || s.Failed != uint64(asked.Load()) {
		t.Fatalf("stats %+v after %d requests to the endpoint: want every 307 a failed attempt", s, asked.Load())
	}
}
