package soak

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/server"
)

func TestParseDropped(t *testing.T) {
	text := `# HELP pushi_webhook_dropped_total Webhooks not delivered.
# TYPE pushi_webhook_dropped_total counter
pushi_webhook_dropped_total{reason="handoff_full"} 12
pushi_webhook_dropped_total{reason="queue_full"} 3.5e+06
pushi_webhook_requests_total{outcome="sent"} 99
`
	got, err := parseDropped(strings.NewReader(text))
	if err != nil || len(got) != 2 || got["handoff_full"] != 12 || got["queue_full"] != 3.5e6 {
		t.Fatalf("parseDropped = %v, %v", got, err)
	}
	// No such metric is an error, never "nothing dropped".
	if got, err := parseDropped(strings.NewReader("pushi_webhook_requests_total{outcome=\"sent\"} 1\n")); err == nil {
		t.Fatalf("no metric: %v, want an error", got)
	}
}

func TestStormAccounted(t *testing.T) {
	s := &stormResult{channels: 1000, vacated: 900,
		drops0: map[string]float64{"queue_full": 5, "handoff_full": 0, "retries_exhausted": 0, "refused_destination": 0},
		drops1: map[string]float64{"queue_full": 55, "handoff_full": 40, "retries_exhausted": 0, "refused_destination": 0}}
	if s.accounted() {
		t.Fatal("900 received + 90 dropped accounted for 1000")
	}
	s.drops1["handoff_full"] = 50
	if !s.accounted() {
		t.Fatal("900 received + 100 dropped not accounted for 1000")
	}
	// A dropped body holds up to batchMax events.
	s.drops1["handoff_full"], s.drops1["refused_destination"] = 0, 1
	if ev, bodies := s.droppedEvents(); ev != 50 || bodies != 1 || !s.accounted() {
		t.Fatalf("one dropped body: %v events, %v bodies, accounted %v", ev, bodies, s.accounted())
	}
}

func TestHookReceiver(t *testing.T) {
	h, err := startReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	h.setSecret("s3cret")
	post := func(body, secret string) {
		req, _ := http.NewRequest("POST", h.url, strings.NewReader(body))
		req.Header.Set("X-Pusher-Signature", protocol.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("receiver answered %d", resp.StatusCode)
		}
	}
	post(`{"time_ms":1,"events":[{"name":"channel_vacated","channel":"storm-0-1"},{"name":"channel_vacated","channel":"probe-3"},{"name":"channel_occupied","channel":"storm-0-1"}]}`, "s3cret")
	post(`{"time_ms":2,"events":[{"name":"channel_vacated","channel":"storm-0-1"},{"name":"channel_vacated","channel":"storm-0-2"}]}`, "s3cret")
	post(`{"time_ms":3,"events":[{"name":"channel_vacated","channel":"storm-9-9"}]}`, "wrong")
	post(`not json`, "s3cret")
	// Distinct storm channels: a repeat counts once, probes not at all;
	// a body with a bad signature is still read, and counted as bad.
	if v, o := h.count("channel_vacated"), h.count("channel_occupied"); v != 3 || o != 1 {
		t.Fatalf("vacated %d, occupied %d; want 3, 1", v, o)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.badSig != 1 || h.undecodable != 1 || h.bodies != 4 || h.lastVacated.IsZero() {
		t.Fatalf("bad signatures %d, undecodable %d, bodies %d, last vacated %v", h.badSig, h.undecodable, h.bodies, h.lastVacated)
	}
}

// fakeAPI accepts one connection, reads the request head, and hands the
// connection to serve.
func fakeAPI(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		serve(c, br)
	}()
	return ln.Addr().String()
}

func TestSlowBodyOutcomes(t *testing.T) {
	o := &Options{BodyTimeout: 300 * time.Millisecond, BodySlack: time.Second}
	body := bytes.Repeat([]byte("x"), 1000)
	unauth, auth := &slowKinds[0], &slowKinds[len(slowKinds)-1]

	// Answered from the head and closed: no body byte is sent.
	addr := fakeAPI(t, func(c net.Conn, _ *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	})
	sb := &slowBody{kind: unauth}
	sb.run(addr, "/x", "", body, 500*time.Millisecond, 2*time.Second)
	if !sb.ok(o) || !sb.early || sb.sent != 0 || sb.status != 401 {
		t.Fatalf("answered early: %s", sb)
	}

	// Never answered: after the early wait the body goes, and the
	// attacker gives up with the connection still open.
	addr = fakeAPI(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	sb = &slowBody{kind: unauth}
	sb.run(addr, "/x", "", body, 200*time.Millisecond, 700*time.Millisecond)
	if sb.ok(o) || sb.early || sb.sent != len(body) || sb.status != 0 || sb.closed != 0 {
		t.Fatalf("never answered: %s", sb)
	}

	// Authenticated: the body goes at once; 408 and the close after the
	// body timeout pass, one long before it does not (another timeout
	// than the soak was told).
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{{300 * time.Millisecond, true}, {0, false}} {
		addr = fakeAPI(t, func(c net.Conn, br *bufio.Reader) {
			time.Sleep(tc.after)
			io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		})
		sb = &slowBody{kind: auth}
		sb.run(addr, "/x", "", body, 0, 2*time.Second)
		if sb.ok(o) != tc.ok || sb.sent != len(body) || sb.status != 408 || sb.closed == 0 {
			t.Fatalf("408 after %v: ok %v, want %v: %s", tc.after, sb.ok(o), tc.ok, sb)
		}
	}
}

// TestAttackersAgainstServer runs both attackers, small, against an
// in-process server: every assertion they print must pass.
func TestAttackersAgainstServer(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"APP_HOST": "127.0.0.1", "APP_PORT": "0", "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "0",
		"PUSHI_APP_ID": "soak", "PUSHI_APP_KEY": "soak-key", "PUSHI_APP_SECRET": "soak-secret",
		"PUSHI_ADMIN_TOKEN": "soak-admin-token-0123456789abcdef", "PUSHI_DB": dir + "/pushi.db",
		"PUSHI_HTTP_BODY_TIMEOUT": "1",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx, 0)
	})
	o, err := parseFlags([]string{"-url", "http://" + srv.Addr("api").String(), "-app-id", "soak", "-key", "soak-key", "-secret", "soak-secret",
		"-admin-token", env["PUSHI_ADMIN_TOKEN"], "-storm-sockets", "2", "-storm-channels", "50", "-slow-bodies", "10", "-body-timeout", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := startReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	ctx := context.Background()
	det := newDetailedClient(o.URL, o.AdminToken)
	wsBase := "ws" + strings.TrimPrefix(o.URL, "http")
	sr := &stormRun{o: o, det: det, recv: recv, wsBase: wsBase, main: bench.NewDialer(wsBase, o.Key, nil, 10*time.Second)}

	var out strings.Builder
	r := &report{w: &out}
	start := time.Now()
	storm := sr.run(ctx, start)
	reportStorm(r, o, storm, start)
	reportSlowBodies(r, o, runSlowBodies(ctx, o, det), start)
	t.Log("\n" + out.String())
	if r.failed > 0 || storm.vacated != 100 || storm.legacy {
		t.Fatalf("%d assertion(s) failed, %d channel_vacated received, created without allow_private_targets %v", r.failed, storm.vacated, storm.legacy)
	}
	if srv.Apps.ByID(storm.appID) != nil {
		t.Fatalf("storm app %s still registered", storm.appID)
	}
}
