package webhook

import (
	"errors"
	"net/url"
	"testing"
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
