package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Durability (docs/features.md §5.4): a pushi process killed with SIGKILL while
// persisted triggers are in flight keeps, after a restart on the same
// database, every trigger it answered 200 — once each, in the order each
// sender saw its answers.

var appCrash = testApp{"400001", "key-crash", "secret-crash"}

// crashAppsJSON serves appCrash with every trigger persisted and caps no
// test reaches.
const crashAppsJSON = `{"apps":[{"id":"400001","key":"key-crash","secret":"secret-crash","name":"crash",
  "persistence":{"default":true,"max_events_per_channel":1000000,"inbox_max_per_user":1000000}}]}`

// pushiBinary builds cmd/pushi into the test's temp dir, or uses PUSHI_BIN.
func pushiBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("PUSHI_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "pushi")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pushi-io/pushi/cmd/pushi").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pushiProcess is a pushi server running as a child process.
type pushiProcess struct {
	cmd    *exec.Cmd
	apiURL string
	wsURL  string        // ws://host:port of the WebSocket listener
	exited chan struct{} // closed when the process has ended
	mu     sync.Mutex
	log    bytes.Buffer
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startProcess runs bin with env (and nothing else from the environment)
// on fresh ports and waits until its REST listener accepts connections.
func startProcess(t *testing.T, bin string, env []string) *pushiProcess {
	t.Helper()
	apiPort, wsPort := freePort(t), freePort(t)
	p := &pushiProcess{cmd: exec.Command(bin), apiURL: "http://127.0.0.1:" + apiPort, wsURL: "ws://127.0.0.1:" + wsPort, exited: make(chan struct{})}
	p.cmd.Env = append(env, "APP_HOST=127.0.0.1", "APP_PORT="+apiPort, "SERVER_HOST=127.0.0.1", "SERVER_PORT="+wsPort)
	p.cmd.Stdout = &lockedWriter{p}
	p.cmd.Stderr = &lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	testkit.Eventually(t, 10*time.Second, "pushi to listen on "+apiPort, func() bool {
		if accepts("127.0.0.1:" + apiPort) {
			return true
		}
		select {
		case <-p.exited:
			t.Fatalf("pushi exited at start:\n%s", p.output())
		default:
		}
		return false
	})
	return p
}

// accepts reports whether addr accepts a TCP connection now.
func accepts(addr string) bool {
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

// kill sends SIGKILL and waits for the process to end.
func (p *pushiProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// lockedWriter collects the child's output for failure messages.
type lockedWriter struct{ p *pushiProcess }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

func (p *pushiProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// triggerURL is a signed POST /apps/{id}/events URL for body, valid for
// the signature's 600 s window.
func triggerURL(apiURL string, a testApp, body []byte) string {
	return apiURL + testkit.SignedTarget("POST", "/apps/"+a.id+"/events", a.key, a.secret, nil, body)
}

// signedTrigger posts body to /apps/{id}/events without failing the test:
// senders race the kill, so transport errors are expected.
func signedTrigger(client *http.Client, apiURL string, a testApp, body []byte) (int, error) {
	resp, err := client.Post(triggerURL(apiURL, a, body), "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestCrashKeepsAcknowledgedTriggers(t *testing.T) {
	bin := pushiBinary(t)
	dir := t.TempDir()
	env := []string{"PUSHI_DB=" + filepath.Join(dir, "pushi.db"), "PUSHI_APPS_FILE=" + writeApps(t, crashAppsJSON), "PUSHI_ADMIN_TOKEN=" + testAdminToken, "PUSHI_HANDLERS=0"}
	p := startProcess(t, bin, env)
	// A follower: each trigger's inbox row is part of what a 200 promises.
	(&testServer{apiURL: p.apiURL}).followAPI(t, appCrash, true, "watcher", "crash")

	// Senders trigger one after another, each on its own connection; acked[g]
	// holds the indexes that got 200, in the order the answers came.
	const senders, channel = 8, "crash"
	acked := make([][]int, senders)
	var total atomic.Int64
	var cut atomic.Int64 // senders whose request failed at the transport: the kill
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; ; i++ {
				body := []byte(fmt.Sprintf(`{"name":"e","channel":%q,"data":"%d-%d"}`, channel, g, i))
				status, err := signedTrigger(client, p.apiURL, appCrash, body)
				if err != nil {
					cut.Add(1)
					return
				}
				if status != http.StatusOK {
					t.Errorf("sender %d, trigger %d: status %d before the kill", g, i, status)
					return
				}
				acked[g] = append(acked[g], i)
				total.Add(1)
			}
		}()
	}
	time.Sleep(time.Second)
	p.kill(t)
	wg.Wait()
	// Every sender loops until an error, so all of them must have been cut
	// off by the kill, most with a request in flight.
	if total.Load() == 0 || cut.Load() != senders || t.Failed() {
		t.Fatalf("%d triggers acknowledged, %d senders cut off; log:\n%s", total.Load(), cut.Load(), p.output())
	}

	// Restart on the same database and read the whole history.
	p2 := startProcess(t, bin, env)
	s := &testServer{apiURL: p2.apiURL}
	recs := s.pageAll(t, appCrash, "/channels/"+channel+"/events", "after", 1000, url.Values{"after": {"0"}}, seqCursor)
	seqOf := seqByData(t, "", recs)
	var last int64
	if len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	for g, idx := range acked {
		var prev int64
		for n, i := range idx {
			if i != n {
				t.Fatalf("sender %d: answers out of order %v", g, idx)
			}
			seq, ok := seqOf[fmt.Sprintf("%d-%d", g, i)]
			if !ok {
				t.Fatalf("sender %d: trigger %d got 200 but is not in history after the crash", g, i)
			}
			if seq <= prev {
				t.Fatalf("sender %d: trigger %d has seq %d, not after its predecessor's %d", g, i, seq, prev)
			}
			prev = seq
		}
		// Beyond the acknowledged ones only the request in flight at the
		// kill may have been stored, and only after them.
		if seq, ok := seqOf[fmt.Sprintf("%d-%d", g, len(idx))]; ok && seq <= prev {
			t.Fatalf("sender %d: the in-flight trigger has seq %d before its predecessor's %d", g, seq, prev)
		}
		for extra := len(idx) + 1; extra < len(idx)+5; extra++ {
			if _, ok := seqOf[fmt.Sprintf("%d-%d", g, extra)]; ok {
				t.Fatalf("sender %d: trigger %d was never sent but is stored", g, extra)
			}
		}
	}
	if len(recs) < int(total.Load()) || len(recs) > int(total.Load())+senders {
		t.Fatalf("%d records for %d acknowledged triggers and %d in flight", len(recs), total.Load(), senders)
	}

	// The follower's inbox holds exactly the stored records.
	inbox := s.pageAll(t, appCrash, "/users/watcher/events", "before", 1000, url.Values{}, func(r record) string { return r.MID })
	if len(inbox) != len(recs) {
		t.Fatalf("inbox has %d rows for %d records", len(inbox), len(recs))
	}
	for i, r := range inbox {
		if want := recs[len(recs)-1-i]; r.MID != want.MID || r.Data != want.Data {
			t.Fatalf("inbox row %d %+v, want record %+v", i, r, want)
		}
	}

	// The restarted server goes on from the last seq.
	s.triggerOK(t, appCrash, map[string]any{"name": "after", "channel": channel, "data": "restart"})
	if got, _ := s.historyPage(t, appCrash, "/channels/"+channel+"/events", url.Values{"limit": {"1"}}); len(got) != 1 || got[0].Data != "restart" || got[0].Seq <= last {
		t.Fatalf("after restart: %+v (last seq before %d)", got, last)
	}
	t.Logf("%d triggers acknowledged before SIGKILL, %d records after restart", total.Load(), len(recs))
	if strings.Contains(p2.output(), "level=ERROR") {
		t.Fatalf("restart logged errors:\n%s", p2.output())
	}
}
