package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// platform is the cluster the journey runs on and the operator in it.
type platform interface {
	// setup brings the cluster up with the CRD installed and the operator
	// running, and points cfg at it.
	setup(ctx context.Context, cfg *envconf.Config) error
	// teardown stops everything setup started.
	teardown(ctx context.Context) error
	// killOperator kills the operator at once (no clean shutdown) and
	// startOperator starts a new one.
	killOperator(ctx context.Context) error
	startOperator(ctx context.Context) error
	// killNode kills the node process of a pod (not the pod).
	killNode(ctx context.Context, namespace, pod string) error
	// kubectl runs kubectl against the cluster.
	kubectl(ctx context.Context, args ...string) ([]byte, error)
	// kubectlCmd is kubectl against the cluster, not started.
	kubectlCmd(ctx context.Context, args ...string) (*exec.Cmd, error)
	// podProxy reports whether the API server's pod proxy reaches the
	// pods; when not, the tests dial pod IPs.
	podProxy() bool
}

var (
	testenv env.Environment
	plat    platform
)

func TestMain(m *testing.M) {
	switch c := os.Getenv("E2E_CLUSTER"); c {
	case "", "local":
		plat = &localPlatform{}
	case "kind":
		plat = &kindPlatform{}
	default:
		fmt.Fprintf(os.Stderr, "E2E_CLUSTER=%q: want local or kind\n", c)
		os.Exit(2)
	}
	testenv = env.NewWithConfig(envconf.New())
	testenv.Setup(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		return ctx, plat.setup(ctx, cfg)
	})
	testenv.Finish(func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		return ctx, plat.teardown(ctx)
	})
	os.Exit(testenv.Run(m))
}
