package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Slow request bodies (issue 10, finding 2): a client that sends most of
// a big body and stalls must not hold memory, a goroutine or Shutdown
// beyond PUSHI_HTTP_BODY_TIMEOUT; a request that fails authentication is
// refused from its request line and headers, before any body is read; and
// PUSHI_MAX_HTTP_CONNECTIONS caps API connections without counting
// WebSocket ones.

const (
	slowDeclared = 1_000_000 // Content-Length announced, under the 1 MiB limit
	slowSent     = 900_000   // bytes actually sent before stalling
	slowTimeout  = time.Second
)

var slowPayload = []byte(strings.Repeat("x", slowSent))

// slowTarget is path?query signed as a for a POST of the slowDeclared
// bytes of 'x' the slow requests announce.
func slowTarget(a testApp, path string) string {
	return testkit.SignedTarget("POST", path, a.key, a.secret, nil, []byte(strings.Repeat("x", slowDeclared)))
}

// slowRequest is one raw connection's attack and what it saw.
type slowRequest struct {
	name, method, target, auth string
	want                       int // status expected

	headAt   time.Time     // request head written
	status   int           // 0: no answer
	answerAt time.Duration // from headAt to the status line
	closedAt time.Duration // from headAt to EOF; 0: still open at the end
	early    bool          // answered before any body byte was sent
	err      error
}

// run dials addr, writes the head announcing slowDeclared bytes, waits
// up to early for an answer that needs no body, then sends slowSent bytes
// and stalls, reading the answer and the close until deadline.
func (sr *slowRequest) run(addr string, early, deadline time.Duration) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		sr.err = err
		return
	}
	defer conn.Close()
	head := sr.method + " " + sr.target + " HTTP/1.1\r\nHost: pushi.test\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(slowDeclared) + "\r\n"
	if sr.auth != "" {
		head += "Authorization: Bearer " + sr.auth + "\r\n"
	}
	sr.headAt = time.Now()
	conn.SetWriteDeadline(sr.headAt.Add(deadline))
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		sr.err = err
		return
	}
	br := bufio.NewReader(conn)
	lines := make(chan string, 1)
	go func() { // the status line, then EOF
		conn.SetReadDeadline(sr.headAt.Add(deadline))
		line, err := br.ReadString('\n')
		if err != nil {
			close(lines)
			return
		}
		lines <- line
		io.Copy(io.Discard, br)
		close(lines)
	}()
	var line string
	var ok bool
	select {
	case line, ok = <-lines:
		sr.early = ok
	case <-time.After(early):
		// Most of the body, then nothing: the server may be refusing
		// or closing meanwhile, so write errors are expected.
		conn.Write(slowPayload)
		line, ok = <-lines
	}
	if ok {
		sr.answerAt = time.Since(sr.headAt)
		if f := strings.Fields(line); len(f) >= 2 {
			sr.status, _ = strconv.Atoi(f[1])
		}
		if _, more := <-lines; !more && time.Since(sr.headAt) < deadline {
			sr.closedAt = time.Since(sr.headAt)
		}
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func runSlow(reqs []*slowRequest, addr string, early, deadline time.Duration, during func()) {
	var wg sync.WaitGroup
	for _, sr := range reqs {
		wg.Add(1)
		go func() { defer wg.Done(); sr.run(addr, early, deadline) }()
	}
	if during != nil {
		during()
	}
	wg.Wait()
}

func TestSlowBodiesRefusedOrTimedOut(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "1", "PUSHI_ADMIN_TOKEN": testAdminToken, "PUSHI_MAX_HTTP_CONNECTIONS": "0"})
	addr := strings.TrimPrefix(s.apiURL, "http://")
	badSig := appBasic
	badSig.secret = "not-the-secret"

	// 1. Unauthenticated: 48 connections on signed, admin, secret and
	// VAPID routes. Each must be answered from its head alone, before a
	// byte of body is sent, and closed; the 900 KB each then tries to
	// send must not reach the heap.
	var unauth []*slowRequest
	for i := 0; i < 8; i++ {
		unauth = append(unauth,
			&slowRequest{name: "signed, bad signature", method: "POST", target: slowTarget(badSig, "/apps/"+appBasic.id+"/events"), want: 401},
			&slowRequest{name: "signed, unknown app", method: "POST", target: slowTarget(appBasic, "/apps/999/events"), want: 404},
			&slowRequest{name: "admin, bad token", method: "POST", target: "/apps", auth: "not-the-admin-token-0123", want: 401},
			&slowRequest{name: "secret, no auth", method: "POST", target: "/apps/" + appBasic.id + "/secret", want: 401},
			&slowRequest{name: "vapid, known app", method: "GET", target: "/apps/" + appBasic.id + "/vapid_key", want: 200}, // public: answered, body ignored
			&slowRequest{name: "vapid, unknown app", method: "GET", target: "/apps/999/vapid_key", want: 404},
		)
	}
	before := liveHeap()
	var during uint64
	runSlow(unauth, addr, 2*time.Second, 3*time.Second, func() {
		time.Sleep(2500 * time.Millisecond) // every body sent (or refused) by now
		during = liveHeap()
	})
	growth := int64(during) - int64(before)
	answered, early, closed := 0, 0, 0
	for _, sr := range unauth {
		if sr.status == sr.want {
			answered++
		}
		if sr.early {
			early++
		}
		if sr.closedAt > 0 {
			closed++
		}
	}
	t.Logf("unauthenticated: %d of %d answered as expected, %d before any body byte, %d closed within 3 s; live heap %+.1f MB while they stalled",
		answered, len(unauth), early, closed, float64(growth)/1e6)
	for _, sr := range unauth {
		if sr.err != nil || sr.status != sr.want || !sr.early || sr.closedAt == 0 {
			t.Errorf("%s: status %d (want %d from the head alone), answered early %v after %v, closed after %v, err %v",
				sr.name, sr.status, sr.want, sr.early, sr.answerAt, sr.closedAt, sr.err)
			break
		}
	}
	// 48 bodies of 900 KB would be 43 MB; nothing of them may be held.
	if growth > 8<<20 {
		t.Errorf("live heap grew by %.1f MB while %d unauthenticated bodies stalled, want under 8 MB", float64(growth)/1e6, len(unauth))
	}

	// 2. Authenticated: the body is read (the signature or token holds),
	// then it stalls. Each is answered 408 and closed within the body
	// timeout (a generous bound for a loaded machine), and the bytes it
	// sent are released with it.
	var authed []*slowRequest
	for i := 0; i < 6; i++ {
		authed = append(authed,
			&slowRequest{name: "signed trigger", method: "POST", target: slowTarget(appBasic, "/apps/"+appBasic.id+"/events"), want: 408},
			&slowRequest{name: "signed follow", method: "POST", target: slowTarget(appBasic, "/apps/"+appBasic.id+"/subscribe"), want: 408},
			&slowRequest{name: "admin create", method: "POST", target: "/apps", auth: testAdminToken, want: 408},
			&slowRequest{name: "secret with admin token", method: "POST", target: "/apps/" + appBasic.id + "/secret", auth: testAdminToken, want: 408},
		)
	}
	before = liveHeap()
	runSlow(authed, addr, 100*time.Millisecond, slowTimeout+5*time.Second, nil)
	after := liveHeap()
	worst := time.Duration(0)
	for _, sr := range authed {
		if sr.closedAt > worst {
			worst = sr.closedAt
		}
	}
	t.Logf("authenticated stalls: slowest closed %v after its head (timeout %v; 0 = still open after %v); live heap %+.1f MB after",
		worst, slowTimeout, slowTimeout+5*time.Second, float64(int64(after)-int64(before))/1e6)
	for _, sr := range authed {
		if sr.err != nil || sr.status != sr.want || sr.closedAt == 0 || sr.closedAt > slowTimeout+4*time.Second {
			t.Errorf("%s: status %d (want %d), closed after %v (want within %v + 4 s), err %v", sr.name, sr.status, sr.want, sr.closedAt, slowTimeout, sr.err)
			break
		}
	}
	if growth := int64(after) - int64(before); growth > 8<<20 {
		t.Errorf("live heap %.1f MB above its level before %d stalled bodies, after they were closed", float64(growth)/1e6, len(authed))
	}
	// The API still serves.
	if status, body := s.rawRequest(t, "GET", "/health", nil); status != 200 {
		t.Fatalf("health after the stalls: %d %v", status, body)
	}
}

// A stalled body holds Shutdown no longer than the body timeout: the
// drain then goes on (WebSocket closes, webhooks) and returns without
// error, well before its own deadline.
func TestShutdownNotHeldBySlowBodies(t *testing.T) {
	s := startServer(t, map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "1", "PUSHI_ADMIN_TOKEN": testAdminToken})
	addr := strings.TrimPrefix(s.apiURL, "http://")
	c := s.connect(t, appBasic.key)
	closed := make(chan drainResult, 1)
	go func() { closed <- readUntilClose(c, 15*time.Second) }() // answers the close at once
	var reqs []*slowRequest
	for i := 0; i < 12; i++ {
		reqs = append(reqs, &slowRequest{method: "POST", target: slowTarget(appBasic, "/apps/"+appBasic.id+"/events"), want: 408})
	}
	var took time.Duration
	var err error
	runSlow(reqs, addr, 100*time.Millisecond, 10*time.Second, func() {
		time.Sleep(300 * time.Millisecond) // heads and bodies in, handlers reading
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		start := time.Now()
		err = s.Shutdown(ctx, 0)
		took = time.Since(start)
	})
	t.Logf("Shutdown with %d stalled bodies took %v (body timeout %v), err %v", len(reqs), took, slowTimeout, err)
	if err != nil || took > slowTimeout+3*time.Second {
		t.Fatalf("Shutdown took %v with err %v; want nil within the %v body timeout + 3 s", took, err, slowTimeout)
	}
	if res := <-closed; res.code != 4200 {
		t.Fatalf("WebSocket client at shutdown: %+v", res)
	}
}

// rawHTTP is one keep-alive connection speaking HTTP/1.1 by hand.
type rawHTTP struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawHTTP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawHTTP{conn, bufio.NewReader(conn)}
}

// do sends one request and reads its answer; status 0 if the connection
// ended first.
func (h *rawHTTP) do(method, target string, body []byte) (int, http.Header, map[string]any) {
	h.conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(h.conn, "%s %s HTTP/1.1\r\nHost: pushi.test\r\nContent-Length: %d\r\n\r\n%s", method, target, len(body), body)
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// closed reports whether the server closed the connection within d.
func (h *rawHTTP) closed(d time.Duration) bool {
	h.conn.SetReadDeadline(time.Now().Add(d))
	_, err := h.br.ReadByte()
	return err == io.EOF
}

// PUSHI_MAX_HTTP_CONNECTIONS on a shared listener (the harness binds API
// and WebSocket to one port): API connections beyond the cap get 503 and
// are closed, WebSocket clients connect whatever the count, and a slot is
// given back when an API connection closes or upgrades to a WebSocket,
// which then keeps no body deadline.
func TestHTTPConnectionCap(t *testing.T) {
	const max = 8
	s := startServer(t, map[string]string{"PUSHI_MAX_HTTP_CONNECTIONS": strconv.Itoa(max), "PUSHI_HTTP_BODY_TIMEOUT": "1"})
	if s.Addr("api").String() != s.Addr("ws").String() {
		t.Fatal("the harness no longer shares one listener")
	}
	addr := s.Addr("api").String()
	// More WebSocket clients than the cap: none takes an API slot.
	var clients []*wsClient
	for i := 0; i < max+4; i++ {
		clients = append(clients, s.connect(t, appBasic.key))
	}
	// The cap's worth of keep-alive API connections, one with a signed
	// body (its deadline is set, then lifted once the body is read).
	var api []*rawHTTP
	for i := 0; i < max; i++ {
		h := dialRaw(t, addr)
		status, _, _ := h.do("GET", "/health", nil)
		if i == 0 {
			body := []byte(`{"user_id":"u","event":"news"}`)
			status, _, _ = h.do("POST", testkit.SignedTarget("POST", "/apps/"+appBasic.id+"/subscribe", appBasic.key, appBasic.secret, nil, body), body)
		}
		if status != 200 {
			t.Fatalf("API connection %d of %d: status %d", i+1, max, status)
		}
		api = append(api, h)
	}
	// One more is refused and closed, with a JSON 503 and Retry-After.
	extra := dialRaw(t, addr)
	status, header, body := extra.do("GET", "/health", nil)
	t.Logf("API connection %d with a cap of %d: status %d %v", max+1, max, status, body)
	if status != 503 || header.Get("Retry-After") == "" || body["code"] != float64(503) || body["error"] == "" {
		t.Fatalf("connection over the cap: %d %v %v, want a JSON 503 with Retry-After", status, header, body)
	}
	if !extra.closed(2 * time.Second) {
		t.Fatal("the refused connection was left open")
	}
	// Admitted connections keep working; WebSocket clients still connect.
	if status, _, _ := api[max-1].do("GET", "/health", nil); status != 200 {
		t.Fatalf("admitted connection at the cap: %d", status)
	}
	late := s.connect(t, appBasic.key)
	late.pingPong()
	clients[0].pingPong()

	// The connection that sent a body upgrades to a WebSocket: its slot is
	// freed, and it outlives the body timeout.
	up := api[0]
	up.conn.SetDeadline(time.Time{})
	d := ws.Dialer{Timeout: 5 * time.Second, NetDial: func(context.Context, string, string) (net.Conn, error) { return up.conn, nil }}
	wc := dialWith(t, d, s.wsURL+"/app/"+appBasic.key+"?protocol=7")
	wc.expectEvent("pusher:connection_established")
	time.Sleep(slowTimeout + 500*time.Millisecond)
	wc.pingPong()

	// Closing an admitted connection frees its slot too.
	api[1].conn.Close()
	for _, h := range []*rawHTTP{dialRaw(t, addr), dialRaw(t, addr)} { // the two freed slots
		testkit.Eventually(t, 3*time.Second, "an API slot given back after an upgrade and a close", func() bool {
			if status, _, _ := h.do("GET", "/health", nil); status == 200 {
				return true
			}
			h = dialRaw(t, addr) // a refused connection is closed
			return false
		})
	}
	if status, _, _ := dialRaw(t, addr).do("GET", "/health", nil); status != 503 {
		t.Fatalf("at the cap again: %d, want 503", status)
	}
}
