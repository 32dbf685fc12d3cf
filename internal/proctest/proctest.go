// Package proctest holds what the tests that run node processes share:
// building the binaries once for a test binary's run, and an environment
// free of the YZMA_* settings of whoever runs the tests.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build is a binary to build: the package path (as go build takes it) and
// where to record the built file's path.
type Build struct {
	Pkg string
	Out *string
}

// Main builds every binary into a temporary directory (without the race
// detector, whatever the tests run under), runs the tests, removes the
// directory and returns m.Run's code: call it from TestMain as
// os.Exit(proctest.Main(m, …)).
func Main(m *testing.M, builds ...Build) int {
	dir, err := os.MkdirTemp("", "yzma-proctest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	for _, b := range builds {
		*b.Out = filepath.Join(dir, filepath.Base(b.Pkg))
		if out, err := exec.Command("go", "build", "-o", *b.Out, b.Pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.Pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// CleanEnv is the test's environment without YZMA_* settings.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YZMA_") {
			env = append(env, kv)
		}
	}
	return env
}
