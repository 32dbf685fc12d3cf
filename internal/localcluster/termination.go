// Termination messages: each container's terminationMessagePath is a host
// file, mapped like a volume mount, whose content (or, with
// FallbackToLogsOnError, the log's tail) becomes the message of the
// container's terminated state.

package localcluster

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// As the kubelet reads them: at most 4096 bytes of the file; a failed
// container's log tail is at most 2048 bytes and 80 lines.
const (
	maxTerminationMessage = 4096
	fallbackLogBytes      = 2048
	fallbackLogLines      = 80
)

// addTerminationFile gives container c a host file for its
// terminationMessagePath (the API server defaults it to
// /dev/termination-log), <container>.termination-log in the Pod's
// directory, and maps that path to it in paths, so that arguments and
// environment values naming it are rewritten as those naming a volume are.
func (c *container) addTerminationFile(paths *pathMap, podDir string) {
	p := c.spec.TerminationMessagePath
	if p == "" {
		p = corev1.TerminationMessagePathDefault
	}
	c.termPath = filepath.Join(podDir, c.spec.Name+".termination-log")
	paths.add(p, c.termPath)
}

// resetTerminationFile empties the file before a run, as each run of a
// container gets a new one.
func (c *container) resetTerminationFile() error {
	if c.termPath == "" {
		return nil
	}
	return os.WriteFile(c.termPath, nil, 0o644)
}

// terminationMessage is the message of a run that ended with exitCode:
// the file's first maxTerminationMessage bytes; if it is empty, the run
// failed and the policy is FallbackToLogsOnError, the log's tail.
func (c *container) terminationMessage(exitCode int) string {
	if c.termPath == "" {
		return ""
	}
	msg := readHead(c.termPath, maxTerminationMessage)
	if len(msg) == 0 && exitCode != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		msg = logTail(c.logPath, fallbackLogBytes, fallbackLogLines)
	}
	return string(msg)
}

// readHead reads at most n bytes of file; nothing if it cannot.
func readHead(file string, n int64) []byte {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }() // only read
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return b
}

// logTail is the end of the log file: its last maxBytes bytes, of those
// the last maxLines lines.
func logTail(file string, maxBytes int64, maxLines int) []byte {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }() // only read
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-maxBytes, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	end := bytes.TrimSuffix(b, []byte("\n"))
	for i, n := len(end), 0; i > 0; i-- {
		if end[i-1] == '\n' {
			if n++; n == maxLines {
				return b[i:]
			}
		}
	}
	return b
}
