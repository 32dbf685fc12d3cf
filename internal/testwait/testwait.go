// Package testwait holds the wait-for-condition helper the tests of several
// packages share, so that no test sleeps a fixed time for something to
// happen.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every poll until it holds, and fails t once timeout has
// passed without it; detail, if given, describes the last state seen.
func For(t testing.TB, what string, timeout, poll time.Duration, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, d := range detail {
				msg += ": " + d()
			}
			t.Fatalf("timed out after %s waiting for %s%s", timeout, what, msg)
		}
		time.Sleep(poll)
	}
}
