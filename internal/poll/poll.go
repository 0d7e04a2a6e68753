// Package poll waits, in tests, for a condition that other goroutines or
// processes make true.
package poll

import (
	"testing"
	"time"
)

// Until checks cond every interval until it holds, or fails tb after
// timeout, naming what it waited for.
func Until(tb testing.TB, what string, timeout, every time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(every)
	}
}

// UntilOK checks cond every interval until it returns nil, or fails tb
// after timeout with the last error it returned.
func UntilOK(tb testing.TB, what string, timeout, every time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(every)
	}
}
