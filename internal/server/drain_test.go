package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Drain (README, SIGTERM/SIGINT): the process stops its listeners, lets
// HTTP requests in flight finish, closes every WebSocket client with
// pusher:error 4200 and close 4200 spread over PUSHI_DRAIN_WINDOW, and
// exits 0. /health/ready answering 503 "draining" is covered in-process by
// TestReadiness, and the lame duck that keeps it visible to a prober by
// TestLameDuckKeepsListenersOpenWhileNotReady; this run has no lame duck.

var appDrain = testApp{"500001", "key-drain", "secret-drain"}

// drainResult is how one WebSocket client's connection ended.
type drainResult struct {
	sawError bool // pusher:error 4200 came before the close frame
	code     int  // close code, 0 if the connection ended without one
	at       time.Time
	err      error // a read error other than a close frame
}

// triggerResult is one HTTP trigger sent around the signal.
type triggerResult struct {
	headers time.Time // when its request headers were written; zero if never
	end     time.Time
	status  int
	err     error
}

// inFlightGrace is how long before SIGTERM a request's headers must have
// been written for it to count as in flight. A request written to an idle
// keep-alive connection that the server has not read yet is closed with
// the connection by net/http's Shutdown (HTTP/1.1 has no way to tell the
// client it was not processed), so the last moment before the signal is
// left out. Measured: such a request was written 0.45 ms before SIGTERM.
const inFlightGrace = 50 * time.Millisecond

// trickleTrigger posts a signed trigger whose body is sent in two halves
// pause apart, so the request stays in its handler for pause. It does not
// fail the test: requests after the listener closed are refused.
func trickleTrigger(client *http.Client, apiURL string, a testApp, body []byte, pause time.Duration) triggerResult {
	var r triggerResult
	pr, pw := io.Pipe()
	go func() {
		pw.Write(body[:len(body)/2])
		time.Sleep(pause)
		pw.Write(body[len(body)/2:])
		pw.Close()
	}()
	defer pr.Close() // unblocks the writer if the request failed early
	req, err := http.NewRequest("POST", triggerURL(apiURL, a, body), pr)
	if err != nil {
		r.err = err
		return r
	}
	req.ContentLength = int64(len(body))
	var headers atomic.Int64 // set on the transport's goroutine
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{WroteHeaders: func() { headers.Store(time.Now().UnixNano()) }}))
	resp, err := client.Do(req)
	if ns := headers.Load(); ns != 0 {
		r.headers = time.Unix(0, ns)
	}
	if r.err = err; err == nil {
		_, r.err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
	}
	r.end = time.Now()
	return r
}

func TestDrainOnSIGTERM(t *testing.T) {
	const clients, senders = 50, 4
	const window = 3 * time.Second
	bin := pushiBinary(t)
	dir := t.TempDir()
	p := startProcess(t, bin, []string{"PUSHI_DB=" + filepath.Join(dir, "pushi.db"), "PUSHI_ADMIN_TOKEN=" + testAdminToken,
		"PUSHI_APP_ID=" + appDrain.id, "PUSHI_APP_KEY=" + appDrain.key, "PUSHI_APP_SECRET=" + appDrain.secret,
		"PUSHI_DRAIN_WINDOW=" + fmt.Sprint(int(window/time.Second))})
	// startProcess waits for the REST listener; the WebSocket one is bound
	// right after it.
	wsAddr := strings.TrimPrefix(p.wsURL, "ws://")
	testkit.Eventually(t, 5*time.Second, "the WebSocket listener at "+wsAddr, func() bool { return accepts(wsAddr) })
	s := &testServer{apiURL: p.apiURL, wsURL: p.wsURL}
	if status, body := s.rawRequest(t, "GET", "/health/ready", nil); status != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("/health/ready before the signal: %d %v", status, body)
	}

	// Subscribed clients, so trigger traffic reaches them up to the drain.
	results := make([]drainResult, clients)
	var readers sync.WaitGroup
	for i := range clients {
		c := s.connect(t, appDrain.key)
		c.subscribe("drain", nil)
		readers.Add(1)
		go func() {
			defer readers.Done()
			results[i] = readUntilClose(c, window+30*time.Second)
		}()
	}

	// Senders trigger back to back until the process has exited, each
	// request spending 100 ms in its handler, so some are mid-body at the
	// signal.
	stop := make(chan struct{})
	stopSenders := sync.OnceFunc(func() { close(stop) })
	defer stopSenders() // also when the test fails early
	sent := make([][]triggerResult, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 40 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := []byte(fmt.Sprintf(`{"name":"e","channel":"drain","data":"%d-%d"}`, g, i))
				r := trickleTrigger(client, p.apiURL, appDrain, body, 100*time.Millisecond)
				sent[g] = append(sent[g], r)
				if r.err != nil {
					time.Sleep(10 * time.Millisecond) // refused after the listener closed; do not spin
				}
			}
		}()
	}

	// One request is surely in its handler at the signal: its headers are
	// sent before it and the rest of its body only after it.
	body := []byte(`{"name":"slow","channel":"drain","data":"` + strings.Repeat("x", 1000) + `"}`)
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", triggerURL(p.apiURL, appDrain, body), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	headersSent := make(chan struct{})
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{WroteHeaders: func() { close(headersSent) }}))
	slow := make(chan triggerResult, 1)
	go func() {
		var r triggerResult
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if r.err = err; err == nil {
			_, r.err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.status = resp.StatusCode
		}
		slow <- r
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	<-headersSent
	time.Sleep(300 * time.Millisecond) // senders keep requests in flight meanwhile

	sigAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server is draining while the body is unfinished
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatalf("slow request cut off: %v", err)
	}
	pw.Close()

	// main.go's hard limit is 30 s plus the window.
	select {
	case <-p.exited:
	case <-time.After(30*time.Second + window):
		t.Fatalf("still running %v after SIGTERM; log:\n%s", 30*time.Second+window, p.output())
	}
	exitedAt := time.Now()
	stopSenders()
	wg.Wait()
	readers.Wait()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d; log:\n%s", code, p.output())
	}
	t.Logf("exited %v after SIGTERM", exitedAt.Sub(sigAt).Round(time.Millisecond))

	if r := <-slow; r.err != nil || r.status != http.StatusOK {
		t.Errorf("request in its handler at SIGTERM: status %d, err %v", r.status, r.err)
	}
	var before, inFlight, after, refused int
	for g, rs := range sent {
		for i, r := range rs {
			sentBefore := !r.headers.IsZero() && r.headers.Before(sigAt.Add(-inFlightGrace))
			switch {
			case sentBefore && (r.err != nil || r.status != http.StatusOK):
				t.Errorf("sender %d, trigger %d sent %v before SIGTERM: status %d, err %v", g, i, sigAt.Sub(r.headers), r.status, r.err)
			case sentBefore:
				before++
				if r.end.After(sigAt) {
					inFlight++
				}
			case r.err == nil && r.status != http.StatusOK:
				// Refusing is fine once the listener is closed; a wrong answer is not.
				t.Errorf("sender %d, trigger %d after SIGTERM: status %d", g, i, r.status)
			case r.err != nil:
				refused++
			default:
				after++
			}
		}
	}
	t.Logf("triggers: %d sent before SIGTERM (%d of them still in flight at it), %d sent around or after it and answered, %d refused", before, inFlight, after, refused)
	if before == 0 || refused == 0 {
		t.Errorf("senders did not span the signal: %d triggers before it, %d refused after it", before, refused)
	}

	first, last := exitedAt, sigAt
	for i, r := range results {
		if r.err != nil || r.code != 4200 || !r.sawError {
			t.Errorf("client %d: close code %d, pusher:error 4200 first %v, err %v", i, r.code, r.sawError, r.err)
			continue
		}
		// The closes are queued by the end of the window; allow for the
		// HTTP requests finished before it starts and for -race.
		if d := r.at.Sub(sigAt); d > window+2*time.Second {
			t.Errorf("client %d closed %v after SIGTERM, window %v", i, d, window)
		}
		if r.at.Before(first) {
			first = r.at
		}
		if r.at.After(last) {
			last = r.at
		}
	}
	// Spread: 50 closes a window/50 apart span nearly the whole window.
	t.Logf("closes from %v to %v after SIGTERM", first.Sub(sigAt).Round(time.Millisecond), last.Sub(sigAt).Round(time.Millisecond))
	if span := last.Sub(first); !t.Failed() && (span < window/2 || span > window+time.Second) {
		t.Errorf("closes span %v, want them spread over the %v window", span, window)
	}
}

// readUntilClose reads frames until the connection ends, for one client
// in its own goroutine (it must not call t.Fatal).
func readUntilClose(c *wsClient, timeout time.Duration) drainResult {
	var r drainResult
	deadline := time.Now().Add(timeout)
	// Reading the close frame writes the close reply: lift the deadline
	// sendText left from the subscribe.
	c.conn.SetWriteDeadline(deadline)
	for {
		f, err := c.read(time.Until(deadline))
		if err == nil {
			if f.Event == "pusher:error" {
				var d struct{ Code int }
				r.sawError = json.Unmarshal(f.Data, &d) == nil && d.Code == 4200
			}
			continue
		}
		r.at = time.Now()
		var ce errClosed
		if errors.As(err, &ce) {
			r.code = ce.code
		} else {
			r.err = err
		}
		return r
	}
}
