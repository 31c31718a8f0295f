package webhook

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/testkit"
)

// syncBuffer is a log sink safe for the senders' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInternalTargetsAreRefused is issue 10's finding 11: an app's webhook
// URL must not reach the network pushi runs in. Loopback (a live endpoint
// here, by address and by a name that resolves to it) and the cloud
// metadata address are refused at dial time, not retried, counted, and
// logged by host only; the same endpoint is reached once the app sets
// allow_private_targets.
func TestInternalTargetsAreRefused(t *testing.T) {
	e := newEndpoint(t)
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	a := testApp(
		apps.Webhook{URL: e.srv.URL + "/hook?token=s3cret"},
		apps.Webhook{URL: "http://localhost:" + port + "/hook?token=s3cret"},
		apps.Webhook{URL: "http://169.254.169.254/latest/meta-data/?token=s3cret"},
	)
	a.AllowPrivateTargets = false
	var logs syncBuffer
	opts := fastOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d, reg := newDispatcher(t, opts, a)
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c"})
	testkit.Eventually(t, 5*time.Second, "three refusals", func() bool { return d.Stats().Refused == 3 })
	time.Sleep(3 * opts.RetryMax) // a retry would have come by now
	if n := len(e.tries()); n != 0 {
		t.Fatalf("the loopback endpoint got %d requests, want none", n)
	}
	if s := d.Stats(); s != (Stats{Refused: 3}) {
		t.Fatalf("stats %+v, want 3 refused and nothing else (no retry)", s)
	}
	out := logs.String()
	for _, want := range []string{"host=" + e.srv.Listener.Addr().String(), "host=localhost:" + port, "host=169.254.169.254", "addr=169.254.169.254", "range=loopback"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "/hook") || strings.Contains(out, "meta-data") {
		t.Errorf("the log shows a URL:\n%s", out)
	}

	// With the switch, the same loopback endpoints are reached.
	a.AllowPrivateTargets = true
	a.Webhooks = a.Webhooks[:2]
	if err := reg.Put(a); err != nil {
		t.Fatal(err)
	}
	d.Emit(reg.ByID("1"), Event{Name: "channel_occupied", Channel: "c2"})
	testkit.Eventually(t, 5*time.Second, "both deliveries", func() bool { return len(e.got()) == 2 && d.Stats().Sent == 2 })
	if s := d.Stats(); s.Refused != 3 {
		t.Fatalf("stats %+v, want 2 sent once allowed", s)
	}
}
