package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/yzma/yzma/internal/modroot"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support/kind"

	"github.com/yzma/yzma/internal/image"
)

// kindPlatform runs the journey on a kind cluster (Docker and kind
// needed): it loads the image archive into the cluster with kind load
// image-archive and deploys the operator with kustomize, as a user would
// (make test-e2e-kind). The archive is E2E_IMAGE_ARCHIVE (make image's),
// else built here by internal/image: never by docker build, so the image
// is the one the local cluster's tests run.
type kindPlatform struct {
	root, name, image, kubeconfig string
	tmp                           string // a built archive's directory
	ctx                           context.Context
}

const operatorNamespace = "yzma-system"

func (p *kindPlatform) setup(ctx context.Context, cfg *envconf.Config) error {
	root, err := modroot.Find()
	if err != nil {
		return err
	}
	p.root, p.name, p.image = root, envOr("E2E_KIND_CLUSTER", "yzma-e2e"), envOr("E2E_IMAGE", "yzma:e2e")
	archive := os.Getenv("E2E_IMAGE_ARCHIVE")
	if archive == "" {
		if p.tmp, err = os.MkdirTemp("", "yzma-e2e-image-"); err != nil {
			return err
		}
		archive = filepath.Join(p.tmp, "yzma-image.tar")
		if err := image.Build(ctx, image.Options{Root: root, Out: archive, Tag: p.image}); err != nil {
			return fmt.Errorf("build the image: %w", err)
		}
	}
	// kind load image-archive imports the archive's tags: the deployed
	// image must be one of them. (A :latest tag would make the kubelet
	// pull it from a registry: make test-e2e-kind uses yzma:e2e.)
	tags, err := image.Tags(archive)
	if err != nil {
		return err
	}
	if !slices.Contains(tags, p.image) {
		return fmt.Errorf("image archive %s holds %q, not E2E_IMAGE %s", archive, tags, p.image)
	}
	for _, step := range []func(context.Context, *envconf.Config) (context.Context, error){
		envfuncs.CreateCluster(kind.NewProvider(), p.name),
		envfuncs.LoadImageArchiveToCluster(p.name, archive),
	} {
		if ctx, err = step(ctx, cfg); err != nil {
			return err
		}
	}
	p.ctx = ctx
	p.kubeconfig = cfg.KubeconfigFile()
	if err := p.run(ctx, "make", "deploy", "IMG="+p.image); err != nil {
		return err
	}
	_, err = p.kubectl(ctx, "-n", operatorNamespace, "rollout", "status", "deployment", "--timeout=3m")
	return err
}

func (p *kindPlatform) teardown(context.Context) error {
	if p.tmp != "" {
		_ = os.RemoveAll(p.tmp) // a built archive, loaded already
	}
	if os.Getenv("E2E_KEEP") != "" {
		return nil
	}
	_, err := envfuncs.DestroyCluster(p.name)(p.ctx, nil)
	return err
}

// killOperator deletes the manager pod at once; its Deployment starts
// another.
func (p *kindPlatform) killOperator(ctx context.Context) error {
	_, err := p.kubectl(ctx, "-n", operatorNamespace, "delete", "pod", "-l", "control-plane=controller-manager",
		"--grace-period=0", "--force", "--wait=false")
	return err
}

func (p *kindPlatform) startOperator(ctx context.Context) error {
	_, err := p.kubectl(ctx, "-n", operatorNamespace, "rollout", "status", "deployment", "--timeout=3m")
	return err
}

// killNode kills the node (PID 1 of its container) from an ephemeral
// container sharing its process namespace; the kubelet restarts it.
func (p *kindPlatform) killNode(ctx context.Context, ns, pod string) error {
	_, err := p.kubectl(ctx, "-n", ns, "debug", pod, "--image=busybox:1.36", "--target=node", "--profile=general",
		"--", "kill", "-9", "1")
	return err
}

func (p *kindPlatform) podProxy() bool { return true }

func (p *kindPlatform) kubectlCmd(ctx context.Context, args ...string) (*exec.Cmd, error) {
	return exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig=" + p.kubeconfig}, args...)...), nil
}

func (p *kindPlatform) kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd, _ := p.kubectlCmd(ctx, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

func (p *kindPlatform) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
