package localcluster_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/yzma/yzma/internal/localcluster"
)

func TestStart(t *testing.T) {
	c := cluster(t)
	t.Logf("cluster started in %s (dir %s)", sharedTook.Round(time.Millisecond), c.Dir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var node corev1.Node
	if err := c.Client().Get(ctx, types.NamespacedName{Name: c.NodeName()}, &node); err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
	}
	if !ready {
		t.Errorf("node %s not Ready: %+v", node.Name, node.Status.Conditions)
	}

	// kubectl works with the kubeconfig file alone, as a person would use it.
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), "get", "nodes", "-o", "name")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("KUBECONFIG=%s kubectl get nodes: %v: %s", c.Kubeconfig(), err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "node/"+c.NodeName() {
		t.Errorf("kubectl get nodes = %q, want node/%s", got, c.NodeName())
	}

	// Names outside the cluster go to the host's resolver.
	if ips, _ := lookup(t, c.DNSAddr(), "localhost."); !slices.Contains(ips, "127.0.0.1") {
		t.Errorf("localhost. = %v through the cluster's DNS server", ips)
	}

	// A second cluster may not take over a running one's directory.
	if _, err := localcluster.Start(ctx, localcluster.Options{Dir: c.Dir(), BinDir: binDir, NodeBinary: nodeBin}); err == nil ||
		!strings.Contains(err.Error(), "another local cluster") {
		t.Errorf("second cluster in %s: %v", c.Dir(), err)
	}
	if _, err := os.Stat(c.Kubeconfig()); err != nil {
		t.Errorf("the running cluster's kubeconfig: %v", err)
	}
}

func TestMissingBinaries(t *testing.T) {
	c, err := localcluster.Start(context.Background(), localcluster.Options{BinDir: t.TempDir(), NodeBinary: "/bin/true"})
	if !errors.Is(err, localcluster.ErrNoBinaries) || c != nil {
		t.Fatalf("Start without binaries = %v, %v; want ErrNoBinaries", c, err)
	}
}
