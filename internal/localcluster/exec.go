// `kubectl exec`: a command run as another process of a running container.
//
// The command gets what the container's own process got from prepare: its
// environment, its working directory, and its volumes by the same path
// rewriting (an argument that is a mountPath, or under one, names the host
// directory). Its program is found as the container would find it: for an
// image unpacked from an archive, in the image's root (imageExecPath,
// archive.go); for an image the image map sends to a host binary:
//
//   - a path under a volume mount: the host file it maps to;
//   - another absolute path: first in the image, then on the host. A
//     process image has no file system of its own, so the directory of the
//     binary the image map gives stands in for the image's root: with the
//     default map ("yzma" → bin/node), `/yzmactl` is bin/yzmactl and
//     `/node` bin/node, as in the Yzma image, whose binaries lie at its
//     root. RunCommand images (busybox) have the host as their file system;
//   - a bare name: looked up in the container's PATH.
//
// The process runs in its own process group like the container's, is
// SIGTERMed and then SIGKILLed with the container's grace period when the
// Pod terminates, and otherwise runs until it exits, as an exec'd process
// outlives a client that goes away on a real kubelet too. With a TTY it
// gets a new session on a pseudo-terminal (pty_linux.go) whose size
// follows the client's; without one, its stdin, stdout and stderr are
// pipes to the streams. A non-zero exit status goes back to kubectl as the
// NonZeroExitCode status, so `kubectl exec` exits with it (128+n for a
// signal n, as a container runtime reports it).

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// execOutputGrace bounds how long output is still copied after the
// command exits (a background child may keep its stdout open).
const execOutputGrace = 5 * time.Second

// executor runs commands in one container of one Pod.
type executor struct {
	rt *podRuntime
	c  *container
}

var _ remotecommand.Executor = (*executor)(nil)

// ExecInContainer runs cmd with the container's environment, streaming
// in, out and errOut; a non-zero exit is a utilexec.ExitError.
func (e *executor) ExecInContainer(_ context.Context, _, _, _ string, argv []string, in io.Reader, out, errOut io.WriteCloser,
	tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	cmd, err := e.command(argv)
	if err != nil {
		return err
	}
	var wait func() error
	if tty {
		wait, err = startWithTTY(cmd, in, out, resize)
	} else {
		wait, err = startWithPipes(cmd, in, out, errOut)
	}
	if err != nil {
		return err
	}
	e.rt.log.Debug("exec started", "container", e.c.spec.Name, "pid", cmd.Process.Pid, "binary", cmd.Path)
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
		case <-e.rt.termCh:
			e.rt.mu.Lock()
			grace := e.rt.grace
			e.rt.mu.Unlock()
			stopGroup(cmd.Process.Pid, exited, grace, e.rt.hurry)
		}
	}()
	err = wait()
	close(exited)
	<-stopped
	return exitError(cmd.ProcessState, err)
}

// command builds the exec.Cmd for argv as the container would run it.
func (e *executor) command(argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	c := e.c
	var path string
	var err error
	if c.rootfs != "" { // an image unpacked from an archive: its own files (archive.go)
		path, err = imageExecPath(argv[0], c.env, c.dir, c.rootfs, c.paths)
	} else {
		root := ""
		if bin, ok := lookupImage(e.rt.k.imageMap, c.spec.Image); ok && bin != RunCommand {
			root = filepath.Dir(bin)
		}
		path, err = execPath(argv[0], root, c.paths, envValue(c.env, "PATH"))
	}
	if err != nil {
		return nil, err
	}
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = c.paths.rewrite(a)
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = argv[0] // argv[0] as given, like a shell would pass it
	cmd.Env, cmd.Dir = c.env, c.dir
	cmd.SysProcAttr = procAttr()
	return cmd, nil
}

// execPath finds the program a container runs as name (see the file's
// comment): root stands for the image's root directory ("" when the host
// is the image), path is the container's PATH.
func execPath(name, root string, paths pathMap, path string) (string, error) {
	if !strings.Contains(name, "/") {
		for _, dir := range filepath.SplitList(path) {
			if dir == "" {
				continue
			}
			p := filepath.Join(paths.rewrite(dir), name)
			if isExecutable(p) {
				return p, nil
			}
		}
		return "", fmt.Errorf("%q: executable file not found in $PATH", name)
	}
	if host := paths.rewrite(name); host != name || !filepath.IsAbs(name) {
		return host, nil // under a volume, or relative to the working directory
	}
	if root != "" {
		if p := filepath.Join(root, name); isExecutable(p) {
			return p, nil
		}
	}
	if _, err := os.Stat(name); err != nil {
		return "", fmt.Errorf("%q: no such file or directory", name)
	}
	return name, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// envValue is the value of name in env ("NAME=value" entries).
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// startWithPipes starts cmd with its standard streams connected to in,
// out and errOut (nil: /dev/null); the returned wait waits for its exit
// and the end of its output.
func startWithPipes(cmd *exec.Cmd, in io.Reader, out, errOut io.Writer) (func() error, error) {
	if out != nil {
		cmd.Stdout = out
	}
	if errOut != nil {
		cmd.Stderr = errOut
	}
	cmd.WaitDelay = execOutputGrace
	var stdin io.WriteCloser
	if in != nil {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if stdin != nil {
		// Not waited for: a client may keep its stdin open after the command
		// exits; the read ends when the stream does. Wait closes the pipe.
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close() // EOF for the command
		}()
	}
	return cmd.Wait, nil
}

// exitError turns the end of a command into what ServeExec reports: nil,
// a utilexec.ExitError with the exit code (128+n for signal n), or err.
func exitError(ps *os.ProcessState, err error) error {
	if ps == nil {
		return err
	}
	code, _, _ := exitStatus(ps)
	if code == 0 {
		return nil // output cut short after WaitDelay is not the command's failure
	}
	return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
}
