package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/yzma/yzma/internal/localcluster"
)

// localPlatform runs the journey on internal/localcluster, with the
// operator as a local process. The API server refuses to proxy to loopback
// addresses, which is what local pods have, so the operator and the tests
// reach the pods at their IPs, as an operator in a cluster does.
type localPlatform struct {
	root    string
	tmp     string
	manager string // the manager binary
	c       *localcluster.Cluster
	op      *exec.Cmd
	opDone  chan struct{}
	opRuns  int
}

func (p *localPlatform) setup(ctx context.Context, cfg *envconf.Config) error {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return err
	}
	p.root = root
	if p.tmp, err = os.MkdirTemp("", "yzma-e2e"); err != nil {
		return err
	}
	nodeBin := filepath.Join(p.tmp, "node")
	p.manager = filepath.Join(p.tmp, "manager")
	if err := localcluster.BuildNode(ctx, root, nodeBin); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", p.manager, "./cmd/manager")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build manager: %w\n%s", err, out)
	}
	var logger *slog.Logger
	if os.Getenv("E2E_VERBOSE") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	p.c, err = localcluster.Start(startCtx, localcluster.Options{
		Dir: filepath.Join(p.tmp, "cluster"), NodeBinary: nodeBin, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("start the local cluster: %w", err)
	}
	if _, err := p.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(root, "config", "crd", "bases")); err != nil {
		return err
	}
	cfg.WithKubeconfigFile(p.c.Kubeconfig())
	return p.startOperator(ctx)
}

func (p *localPlatform) teardown(context.Context) error {
	var errs []error
	if p.op != nil {
		_ = p.op.Process.Signal(syscall.SIGTERM)
		<-p.opDone
	}
	if p.c != nil {
		errs = append(errs, p.c.Stop())
	}
	if p.tmp != "" && os.Getenv("E2E_KEEP") == "" {
		errs = append(errs, os.RemoveAll(p.tmp))
	} else if p.tmp != "" {
		fmt.Fprintf(os.Stderr, "e2e: files kept in %s\n", p.tmp)
	}
	return errors.Join(errs...)
}

// startOperator runs the manager with leader election, as deployed.
func (p *localPlatform) startOperator(context.Context) error {
	p.opRuns++
	logf, err := os.Create(filepath.Join(p.tmp, fmt.Sprintf("manager-%d.log", p.opRuns)))
	if err != nil {
		return err
	}
	cmd := exec.Command(p.manager, "--leader-elect", "--leader-election-namespace=default",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--pod-access=direct",
		"--never-member-timeout=20s", "--stuck-pod-timeout=20s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.c.Kubeconfig())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // nothing was written
		return fmt.Errorf("start manager: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }() // a test log: a lost tail only hurts debugging
	p.op, p.opDone = cmd, done
	return nil
}

func (p *localPlatform) killOperator(context.Context) error {
	if err := p.op.Process.Kill(); err != nil {
		return err
	}
	<-p.opDone
	p.op = nil
	return nil
}

func (p *localPlatform) killNode(_ context.Context, ns, pod string) error {
	proc, err := p.c.PodProcess(ns, pod)
	if err != nil {
		return err
	}
	return proc.Signal(syscall.SIGKILL)
}

func (p *localPlatform) podProxy() bool { return false }

func (p *localPlatform) kubectl(ctx context.Context, args ...string) ([]byte, error) {
	return p.c.Kubectl(ctx, args...)
}
