// Package testkit is what the tests share: a polling wait with a
// deadline, Pusher-signed API requests and a TCP proxy that can be cut.
// Only _test.go files import it, so it never enters a binary. FerretDB
// start-up is in the subpackage ferret, so that tests which do not need a
// MongoDB do not link one.
package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns true, and fails the test naming
// what it waited for once timeout has passed. cond runs on the test's
// goroutine, so it may call t.Fatal itself. Polls start 1 ms apart, so a
// quick condition is seen at once, and back off to 50 ms, so a costly one
// (an HTTP request, a scrape) does not load a busy machine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(min(pause, left)) // cond runs once more at the deadline
	}
}
