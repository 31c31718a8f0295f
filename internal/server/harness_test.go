package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pushi-io/pushi/internal/config"
)

// Test apps, in the apps file format.
const testAppsJSON = `{"apps":[
 {"id":"100001","key":"key-basic","secret":"secret-basic","name":"basic"},
 {"id":"100002","key":"key-full","secret":"secret-full","name":"full","client_events":true,"subscription_count":true,"watchlist":true,
  "limits":{"client_event_rate":5,"presence_max_members":3,"watchlist_max":2,"max_channels_per_connection":5}},
 {"id":"100003","key":"key-off","secret":"secret-off","name":"off","enabled":false},
 {"id":"100004","key":"key-quota","secret":"secret-quota","name":"quota","max_connections":1,"allowed_origins":["https://good.example"]},
 {"id":"100005","key":"key-auth","secret":"secret-auth","name":"auth","user_authentication_required":true,"user_auth_timeout_s":1}
]}`

// testServer is a real server on loopback with random ports.
type testServer struct {
	*Server
	apiURL string
	wsURL  string
}

// startServer runs a server for the test; env overrides settings.
func startServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	return startServerLogged(t, env, nil)
}

// startServerWithApps is startServer serving the apps of appsJSON (in
// the apps file format) instead of testAppsJSON.
func startServerWithApps(t testing.TB, appsJSON string, env map[string]string) *testServer {
	t.Helper()
	vars := map[string]string{"PUSHI_APPS_FILE": writeApps(t, appsJSON)}
	maps.Copy(vars, env)
	return startServer(t, vars)
}

// writeApps writes appsJSON to an apps file of the test's and returns its
// path, for PUSHI_APPS_FILE.
func writeApps(t testing.TB, appsJSON string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apps.json")
	if err := writeFile(path, appsJSON); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServerLogged is startServer with the server's text log written to
// logs (nil: discarded, or the test log with -v).
func startServerLogged(t testing.TB, env map[string]string, logs io.Writer) *testServer {
	t.Helper()
	vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "SERVER_HOST": "127.0.0.1", "PUSHI_APPS_FILE": writeApps(t, testAppsJSON), "PUSHI_DB": t.TempDir() + "/pushi.db"}
	maps.Copy(vars, env)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, nil))
	} else if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, _ := launch(t, mustConfig(t, vars), log)
	return s
}

// launch starts a server on cfg, on the backend the test mode promises,
// and returns it with a function that shuts it down once; the test's
// cleanup runs that too.
func launch(t testing.TB, cfg *config.Config, log *slog.Logger) (*testServer, func()) {
	t.Helper()
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	checkTestStore(t, srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx, 0)
	})
	t.Cleanup(stop)
	return &testServer{Server: srv, apiURL: "http://" + srv.Addr("api").String(), wsURL: "ws://" + srv.Addr("ws").String()}, stop
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// wsClient is a raw WebSocket client that sees every frame.
type wsClient struct {
	t        testing.TB
	conn     net.Conn
	rw       io.ReadWriter // reads through the dialer's buffer, which may already hold frames
	socketID string
}

// dial opens a raw connection to path (e.g. "/app/key-basic?protocol=7").
func (s *testServer) dial(t testing.TB, path string, header http.Header) *wsClient {
	t.Helper()
	return dialWith(t, ws.Dialer{Header: ws.HandshakeHeaderHTTP(header), Timeout: 5 * time.Second}, s.wsURL+path)
}

// dialWith opens a raw client with a given dialer (TLS, socket options).
func dialWith(t testing.TB, d ws.Dialer, url string) *wsClient {
	t.Helper()
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, rw: conn}
	if br != nil { // the dialer's buffer may already hold frames
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	return c
}

// connect dials an app and consumes connection_established.
func (s *testServer) connect(t testing.TB, key string) *wsClient {
	t.Helper()
	c := s.dial(t, "/app/"+key+"?protocol=7&client=js&version=8.6.0&flash=false", nil)
	ev := c.expectEvent("pusher:connection_established")
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(ev.dataString(t)), &d); err != nil {
		t.Fatal(err)
	}
	c.socketID = d.SocketID
	return c
}

// frame is one decoded server frame.
type frame struct {
	raw     string
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  json.RawMessage `json:"user_id"`
}

func (f frame) dataString(t testing.TB) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data of %s is not a JSON string: %s", f.Event, f.raw)
	}
	return s
}

// errClosed carries the close code a server sent.
type errClosed struct{ code int }

func (e errClosed) Error() string { return "closed" }

// read returns the next text frame, or an errClosed with the close code.
func (c *wsClient) read(timeout time.Duration) (frame, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	payload, op, err := wsutil.ReadServerData(c.rw)
	if err != nil {
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			return frame{}, errClosed{int(ce.Code)}
		}
		return frame{}, err
	}
	if op != ws.OpText {
		return frame{}, errors.New("non-text frame")
	}
	f := frame{raw: string(payload)}
	if err := json.Unmarshal(payload, &f); err != nil {
		return frame{}, err
	}
	return f, nil
}

func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expectEvent reads frames until one named event arrives (skipping none).
func (c *wsClient) expectEvent(event string) frame {
	c.t.Helper()
	f := c.next()
	if f.Event != event {
		c.t.Fatalf("got %s, want event %s", f.raw, event)
	}
	return f
}

// expectRaw reads the next frame and compares its exact bytes.
func (c *wsClient) expectRaw(want string) {
	c.t.Helper()
	if f := c.next(); f.raw != want {
		c.t.Fatalf("frame\n got: %s\nwant: %s", f.raw, want)
	}
}

// expectClose reads until the close frame and checks its code.
func (c *wsClient) expectClose(code int) {
	c.t.Helper()
	for {
		_, err := c.read(5 * time.Second)
		if err == nil {
			continue
		}
		var ce errClosed
		if !errors.As(err, &ce) {
			c.t.Fatalf("want close %d, got %v", code, err)
		}
		if ce.code != code {
			c.t.Fatalf("close code %d, want %d", ce.code, code)
		}
		return
	}
}

// expectNothing checks that no frame arrives within d.
func (c *wsClient) expectNothing(d time.Duration) {
	c.t.Helper()
	if f, err := c.read(d); err == nil {
		c.t.Fatalf("unexpected frame %s", f.raw)
	}
}

func (c *wsClient) sendText(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c.rw, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) send(event string, data any) {
	c.t.Helper()
	b, err := json.Marshal(map[string]any{"event": event, "data": data})
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendText(string(b))
}

// subscribe sends pusher:subscribe and expects subscription_succeeded.
func (c *wsClient) subscribe(channel string, extra map[string]any) frame {
	c.t.Helper()
	data := map[string]any{"channel": channel}
	for k, v := range extra {
		data[k] = v
	}
	c.send("pusher:subscribe", data)
	f := c.expectEvent("pusher_internal:subscription_succeeded")
	if f.Channel != channel {
		c.t.Fatalf("succeeded on %s, want %s", f.Channel, channel)
	}
	return f
}
