//go:build !linux

package localcluster

import (
	"errors"
	"io"
	"os/exec"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// startWithTTY: pseudo-terminals are opened on Linux only.
func startWithTTY(*exec.Cmd, io.Reader, io.Writer, <-chan remotecommand.TerminalSize) (func() error, error) {
	return nil, errors.New("exec with a TTY is supported on Linux only")
}
