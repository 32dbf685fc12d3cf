package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// signalGroup sends sig to the process group led by pid (every child runs
// in its own group), falling back to the process alone.
func signalGroup(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return errors.New("no process")
	}
	if err := syscall.Kill(-pid, sig); err == nil || !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return syscall.Kill(pid, sig)
}

// stopGroup sends SIGTERM to the group of pid, waits for done to close for
// up to grace (or until hurry closes), then sends SIGKILL and waits for
// done. It reports whether SIGKILL was needed.
func stopGroup(pid int, done <-chan struct{}, grace time.Duration, hurry <-chan struct{}) (killed bool) {
	if pid <= 0 { // never signal group 0: that is our own
		<-done
		return false
	}
	select {
	case <-done:
		return false
	default:
	}
	if grace > 0 {
		_ = signalGroup(pid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
			// The leader is gone; make sure no child of it lingers.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return false
		case <-t.C:
		case <-hurry:
		}
	}
	_ = signalGroup(pid, syscall.SIGKILL)
	<-done
	return true
}

// supervised is a long-running helper process (kube-controller-manager)
// restarted when it exits until stopped.
type supervised struct {
	name    string
	path    string
	args    []string
	logPath string
	log     *slog.Logger

	mu      sync.Mutex
	pid     int
	exited  chan struct{} // closed when the current process exits
	stopped bool
	done    chan struct{} // closed when the supervision loop ends
}

// start launches the process and keeps it running in the background.
func (s *supervised) start() error {
	s.done = make(chan struct{})
	if err := s.launch(); err != nil {
		close(s.done)
		return err
	}
	go s.loop()
	return nil
}

func (s *supervised) launch() error {
	out, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.path, s.args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		_ = out.Close() // nothing was written to it
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.pid, s.exited = cmd.Process.Pid, exited
	s.mu.Unlock()
	s.log.Info("started "+s.name, "pid", cmd.Process.Pid, "log", s.logPath)
	go func() {
		err := cmd.Wait()
		if cerr := out.Close(); cerr != nil {
			s.log.Warn("closing the log of "+s.name, "log", s.logPath, "err", cerr)
		}
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if !stopped {
			s.log.Error(s.name+" exited", "err", err, "log", s.logPath)
		}
		close(exited)
	}()
	return nil
}

func (s *supervised) loop() {
	defer close(s.done)
	backoff := time.Second
	for {
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		<-exited
		for {
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				return
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 30*time.Second)
			if err := s.launch(); err != nil {
				s.log.Error("restarting "+s.name, "err", err)
				continue
			}
			break
		}
	}
}

// stop ends the process (SIGTERM, then SIGKILL after grace) and the loop.
func (s *supervised) stop(grace time.Duration) {
	s.mu.Lock()
	if s.done == nil || s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	pid, exited := s.pid, s.exited
	s.mu.Unlock()
	stopGroup(pid, exited, grace, nil)
	<-s.done
}

// deathWrapper returns an executable that runs bin with the parent-death
// signal set, for processes started by code that does not let us set it
// (envtest's etcd and kube-apiserver): a shell script exec'ing setpriv,
// written into dir. Without setpriv it returns bin itself.
func deathWrapper(dir, bin string) (string, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return bin, nil
	}
	// Check that this setpriv knows --pdeathsig (util-linux 2.33+).
	if out, err := exec.Command(setpriv, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--pdeathsig") {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(bin))
	script := fmt.Sprintf("#!/bin/sh\nexec %s --pdeathsig KILL -- %s \"$@\"\n", shellQuote(setpriv), shellQuote(bin))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sleepCtx waits for d or until ctx ends, reporting whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
