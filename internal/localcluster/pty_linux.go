// A pseudo-terminal for `kubectl exec -t`: the command leads a new session
// on the terminal's secondary side; the primary side is copied to and
// from the client's streams, and the client's resize events set its size.

package localcluster

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// startWithTTY starts cmd on a new pseudo-terminal that in feeds and out
// shows (a terminal has no separate stderr); the returned wait waits for
// its exit and the end of its output.
func startWithTTY(cmd *exec.Cmd, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) (func() error, error) {
	ptm, pts, err := openPTY()
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = procAttr()
	cmd.SysProcAttr.Setpgid = false // a session leader leads its own group
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	err = cmd.Start()
	_ = pts.Close() // the command has its own; unused otherwise
	if err != nil {
		_ = ptm.Close() // unused
		return nil, err
	}
	if resize != nil {
		go func() {
			for size := range resize { // closed when the client's resize stream ends
				setWinsize(ptm, size)
			}
		}()
	}
	if in != nil {
		go func() { _, _ = io.Copy(ptm, in) }() // ends with the stream or the terminal
	}
	if out == nil {
		out = io.Discard
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, ptm) // EIO once no process holds the terminal any more
	}()
	return func() error {
		err := cmd.Wait()
		select {
		case <-copied:
		case <-time.After(execOutputGrace):
		}
		_ = ptm.Close() // nothing written to it matters any more
		return err
	}, nil
}

// openPTY opens a new pseudo-terminal's primary and secondary sides.
func openPTY() (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	if err = control(ptm, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlock
			return err
		}
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	}); err == nil {
		pts, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		_ = ptm.Close() // unused
		return nil, nil, err
	}
	return ptm, pts, nil
}

func setWinsize(ptm *os.File, size remotecommand.TerminalSize) {
	_ = control(ptm, func(fd int) error { // a terminal gone meanwhile has no size to set
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Height, Col: size.Width})
	})
}

// control runs fn on f's descriptor without putting it in blocking mode
// (as os.File.Fd would, which would keep Close from ending a Read).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
