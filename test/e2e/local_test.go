package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/yzma/yzma/internal/controller"
	"github.com/yzma/yzma/internal/image"
	"github.com/yzma/yzma/internal/localcluster"
)

// localPlatform runs the journey on internal/localcluster, with the
// operator as a local process. The API server refuses to proxy to loopback
// addresses, which is what local pods have, so the operator and the tests
// reach the pods at their IPs, as an operator in a cluster does.
//
// Both run the image users deploy: the image archive is built from this
// checkout (internal/image, as make image does; or E2E_IMAGE_ARCHIVE, an
// archive make image wrote) with the operator's default node image as its
// tag, the kubelet runs the node pods from it, and the operator is the
// image's /manager.
type localPlatform struct {
	root    string
	tmp     string
	manager string // the manager binary, in the unpacked image
	c       *localcluster.Cluster
	op      *exec.Cmd
	opDone  chan struct{}
	opRuns  int
}

func (p *localPlatform) setup(ctx context.Context, cfg *envconf.Config) error {
	root, err := modroot.Find()
	if err != nil {
		return err
	}
	p.root = root
	if p.tmp, err = os.MkdirTemp("", "yzma-e2e"); err != nil {
		return err
	}
	archive := os.Getenv("E2E_IMAGE_ARCHIVE")
	if archive == "" {
		archive = filepath.Join(p.tmp, "yzma-image.tar")
		if err := image.Build(ctx, image.Options{Root: root, Out: archive, Tag: controller.DefaultImage}); err != nil {
			return fmt.Errorf("build the image: %w", err)
		}
	}
	tags, err := image.Tags(archive)
	if err != nil {
		return err
	}
	if !slices.Contains(tags, controller.DefaultImage) {
		return fmt.Errorf("image archive %s holds %q, not the operator's default node image %s", archive, tags, controller.DefaultImage)
	}
	var logger *slog.Logger
	if os.Getenv("E2E_VERBOSE") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	p.c, err = localcluster.Start(startCtx, localcluster.Options{
		Dir: filepath.Join(p.tmp, "cluster"), ImageArchives: []string{archive}, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("start the local cluster: %w", err)
	}
	imageRoot, err := p.c.ImageRoot(controller.DefaultImage)
	if err != nil {
		return err
	}
	p.manager = filepath.Join(imageRoot, "manager")
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

func (p *localPlatform) kubectlCmd(ctx context.Context, args ...string) (*exec.Cmd, error) {
	return p.c.KubectlCmd(ctx, args...)
}
