package testwait

import (
	"strings"
	"testing"
	"time"
)

// fakeT records a fatal failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestFor(t *testing.T) {
	n := 0
	For(t, "three polls", time.Second, time.Millisecond, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	f := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		For(f, "never", 10*time.Millisecond, time.Millisecond, func() bool { return false }, func() string { return "state" })
	}()
	if !strings.Contains(f.failed, "timed out") {
		t.Errorf("a condition that never holds did not fail: %q", f.failed)
	}
}
