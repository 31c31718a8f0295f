package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/bench"
)

// Slow request bodies (issue 10, finding 2): raw connections to the HTTP
// API announce a large body, send part of it or none, and stall. One that
// fails authentication must be answered from its request line and headers
// and closed without the server waiting for the body; an authenticated
// one must get 408 and be closed once PUSHI_HTTP_BODY_TIMEOUT has passed.
// Before the fixes both held a goroutine and the bytes sent so far for as
// long as the client liked.

const (
	slowDeclared = 1_000_000 // Content-Length announced, under the 1 MiB limit
	slowSent     = 900_000   // bytes an authenticated attacker sends before stalling
	// unauthBound: an answer that needs no body and the close after it.
	// The server answers in milliseconds; the rest is room for a loaded
	// 2-core machine.
	unauthBound = 2 * time.Second
	// timeoutEarly: an authenticated stall answered sooner than the body
	// timeout minus this means the server runs with another timeout than
	// the soak was told.
	timeoutEarly = 250 * time.Millisecond
)

// slowKind is one way to stall: the request and the answer it must get.
type slowKind struct {
	name   string
	auth   bool // the request authenticates: 408 after the body timeout
	want   int
	method string
	// target and bearer build the request line's target and the admin
	// token sent, if any.
	target func(o *Options, full []byte) string
	bearer func(o *Options) string
}

func eventsPath(o *Options) string { return "/apps/" + o.AppID + "/events" }

func signedEvents(s bench.Signer, path string, full []byte) string {
	return path + "?" + s.SignedQuery("POST", path, full, time.Now().Unix())
}

var noBearer = func(*Options) string { return "" }

var slowKinds = []slowKind{
	{name: "bad-signature", want: 401, method: "POST", bearer: noBearer, target: func(o *Options, full []byte) string {
		return signedEvents(bench.Signer{AppID: o.AppID, Key: o.Key, Secret: "not-the-secret"}, eventsPath(o), full)
	}},
	{name: "unknown-app", want: 404, method: "POST", bearer: noBearer, target: func(o *Options, full []byte) string {
		return signedEvents(bench.Signer{AppID: "soak-no-such-app", Key: o.Key, Secret: o.Secret}, "/apps/soak-no-such-app/events", full)
	}},
	{name: "secret-no-auth", want: 401, method: "POST", bearer: noBearer, target: func(o *Options, _ []byte) string {
		return "/apps/" + o.AppID + "/secret"
	}},
	{name: "admin-bad-token", want: 401, method: "POST", target: func(*Options, []byte) string { return "/apps" },
		bearer: func(*Options) string { return "not-the-admin-token-0123456789" }},
	{name: "signed-events", auth: true, want: 408, method: "POST", bearer: noBearer, target: func(o *Options, full []byte) string {
		return signedEvents(bench.Signer{AppID: o.AppID, Key: o.Key, Secret: o.Secret}, eventsPath(o), full)
	}},
}

// slowBody is one attacker and what it saw, timed from its head written.
type slowBody struct {
	kind   *slowKind
	status int           // 0: no answer
	answer time.Duration // to the status line
	closed time.Duration // to EOF or a reset; 0: still open when it gave up
	early  bool          // answered before a byte of body was sent
	sent   int
	err    error // dial or head write
}

// run sends the head; an unauthenticated attacker then waits up to early
// for an answer and sends most of the body only if none came, an
// authenticated one sends most of the body at once. Both then stall,
// reading the answer and the close until wait has passed.
func (sb *slowBody) run(addr, target, bearer string, body []byte, early, wait time.Duration) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		sb.err = err
		return
	}
	defer conn.Close()
	head := sb.kind.method + " " + target + " HTTP/1.1\r\nHost: " + addr +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(slowDeclared) + "\r\n"
	if bearer != "" {
		head += "Authorization: Bearer " + bearer + "\r\n"
	}
	start := time.Now()
	_ = conn.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		sb.err = err
		return
	}
	gotLine := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err == nil {
			sb.answer = time.Since(start)
			if f := strings.Fields(line); len(f) >= 2 {
				sb.status, _ = strconv.Atoi(f[1])
			}
			close(gotLine)
			_, err = io.Copy(io.Discard, br) // nil at EOF
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			sb.closed = time.Since(start)
		}
	}()
	if sb.kind.auth {
		sb.sent, _ = conn.Write(body)
	} else {
		select {
		case <-gotLine:
			sb.early = true
		case <-done:
		case <-time.After(early):
			// No answer from the head: give it most of the body, as an
			// attacker would, and see whether it is ever answered.
			sb.sent, _ = conn.Write(body)
		}
	}
	<-done
}

// ok reports whether the attacker got its answer within its bound.
func (sb *slowBody) ok(o *Options) bool {
	if sb.err != nil || sb.status != sb.kind.want || sb.closed == 0 {
		return false
	}
	if sb.kind.auth {
		return sb.answer >= o.BodyTimeout-timeoutEarly && sb.closed <= o.BodyTimeout+o.BodySlack
	}
	return sb.early && sb.answer <= unauthBound && sb.closed <= unauthBound
}

func (sb *slowBody) String() string {
	if sb.err != nil {
		return sb.kind.name + ": " + sb.err.Error()
	}
	closed := fmt.Sprintf("closed after %v", sb.closed.Round(time.Millisecond))
	if sb.closed == 0 {
		closed = "still open when given up"
	}
	answer := "no answer"
	if sb.status != 0 {
		answer = fmt.Sprintf("%d after %v", sb.status, sb.answer.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %s (want %d), before any body byte %v, %d body bytes sent, %s", sb.kind.name, answer, sb.kind.want, sb.early, sb.sent, closed)
}

// slowBodyResult is the slow-body attack's outcome.
type slowBodyResult struct {
	attacks          []*slowBody
	heapBefore       uint64 // server heap after a GC, before the attack
	heapDuring       uint64 // the same while the bodies stall
	heapErr          error
	wait             time.Duration
	started, stopped time.Time
}

// runSlowBodies runs o.SlowBodies attackers at once: every other one
// authenticated, the rest cycling over the unauthenticated kinds.
func runSlowBodies(ctx context.Context, o *Options, det *detailedClient) *slowBodyResult {
	u, _ := url.Parse(o.URL) // checked by parseFlags
	full := bytes.Repeat([]byte("x"), slowDeclared)
	res := &slowBodyResult{wait: o.BodyTimeout + o.BodySlack + 2*time.Second}
	unauth := slowKinds[:len(slowKinds)-1]
	for i := range o.SlowBodies {
		k := &slowKinds[len(slowKinds)-1]
		if i%2 == 1 {
			k = &unauth[(i/2)%len(unauth)]
		}
		res.attacks = append(res.attacks, &slowBody{kind: k})
	}
	if d, err := det.get(ctx, true); err == nil {
		res.heapBefore = d.Runtime.HeapAllocBytes
	} else {
		res.heapErr = err
	}
	res.started = time.Now()
	var wg sync.WaitGroup
	for _, sb := range res.attacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb.run(u.Host, sb.kind.target(o, full), sb.kind.bearer(o), full[:slowSent], unauthBound, res.wait)
		}()
	}
	// Halfway through the body timeout every body that will be sent is
	// in the server, and none has been answered 408 yet.
	sleepCtx(ctx, o.BodyTimeout/2)
	if d, err := det.get(ctx, true); err == nil {
		res.heapDuring = d.Runtime.HeapAllocBytes
	} else if res.heapErr == nil {
		res.heapErr = err
	}
	wg.Wait()
	res.stopped = time.Now()
	return res
}

// reportSlowBodies prints the two slow-body assertions.
func reportSlowBodies(r *report, o *Options, res *slowBodyResult, loadStart time.Time) {
	if res == nil {
		r.check(false, "slow bodies ran", "the attack never started")
		return
	}
	type tally struct{ ok, n int }
	kinds := map[string]*tally{}
	var unOK, unN, auOK, auN, sent int
	var unAnswer, unClosed, auClosed time.Duration
	auFirst := time.Duration(-1)
	var unBad, auBad string
	for _, sb := range res.attacks {
		t := kinds[sb.kind.name]
		if t == nil {
			t = &tally{}
			kinds[sb.kind.name] = t
		}
		t.n++
		good := sb.ok(o)
		if good {
			t.ok++
		}
		if sb.kind.auth {
			auN++
			sent += sb.sent
			if good {
				auOK++
			} else if auBad == "" {
				auBad = sb.String()
			}
			if sb.status != 0 && (auFirst < 0 || sb.answer < auFirst) {
				auFirst = sb.answer
			}
			if sb.closed == 0 {
				auClosed = res.wait // reported as "at least"
			} else {
				auClosed = max(auClosed, sb.closed)
			}
			continue
		}
		unN++
		if good {
			unOK++
		} else if unBad == "" {
			unBad = sb.String()
		}
		unAnswer = max(unAnswer, sb.answer)
		if sb.closed == 0 {
			unClosed = res.wait
		} else {
			unClosed = max(unClosed, sb.closed)
		}
	}
	var parts []string
	for _, k := range slowKinds[:len(slowKinds)-1] {
		if t := kinds[k.name]; t != nil {
			parts = append(parts, fmt.Sprintf("%s %d %d/%d", k.name, k.want, t.ok, t.n))
		}
	}
	if unN > 0 {
		r.check(unOK == unN, "slow bodies, unauthenticated: answered from the head and closed",
			"%d of %d (%s), no body byte sent; slowest answer %v, slowest close %v (bound %v each)%s",
			unOK, unN, strings.Join(parts, ", "), unAnswer.Round(time.Millisecond), unClosed.Round(time.Millisecond), unauthBound, firstOf(unBad))
	}
	if auN > 0 {
		first := "none answered"
		if auFirst >= 0 {
			first = fmt.Sprintf("first 408 after %v", auFirst.Round(time.Millisecond))
		}
		r.check(auOK == auN, "slow bodies, authenticated: 408 and closed within the body timeout",
			"%d of %d signed /events, %d of %d bytes sent each (%.1f MB in all); %s, last closed after %v (PUSHI_HTTP_BODY_TIMEOUT %v, bound +%v)%s",
			auOK, auN, slowSent, slowDeclared, float64(sent)/1e6, first, auClosed.Round(time.Millisecond), o.BodyTimeout, o.BodySlack, firstOf(auBad))
	}
	if res.heapErr == nil {
		r.info("slow bodies: server heap (after a GC) %s before, %s while %d connections stalled; from %.1fs of the load for %.1fs",
			mib(res.heapBefore), mib(res.heapDuring), len(res.attacks), res.started.Sub(loadStart).Seconds(), res.stopped.Sub(res.started).Seconds())
	} else {
		r.info("slow bodies: server heap not read: %v", res.heapErr)
	}
}
