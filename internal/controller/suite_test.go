package controller

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/kubetest"
	"github.com/yzma/yzma/internal/testwait"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// The API server (real kube-apiserver and etcd from bin/k8s, see
// hack/k8s-bins.sh), started on first use and shared by the tests of this
// package; each test works in its own namespace.
var (
	testScheme = kubetest.NewScheme()
	apiServer  = &kubetest.Env{Scheme: testScheme}
	testCfg    *rest.Config
	k8s        client.Client
	nodeBin    string // cmd/node, built once
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	kubetest.SetupLogger()
	code := m.Run()
	apiServer.Stop()
	if nodeBin != "" {
		if err := os.RemoveAll(filepath.Dir(nodeBin)); err != nil {
			fmt.Fprintf(os.Stderr, "remove the node binary: %v\n", err)
		}
	}
	return code
}

var (
	nodeOnce     sync.Once
	nodeBuildErr error
)

// needAPIServer starts the shared API server on first use, so that tests
// that need none (the builders') run without it.
func needAPIServer(t *testing.T) {
	t.Helper()
	testCfg, k8s = apiServer.Need(t)
}

// needNodeBinary builds cmd/node once, for the tests that run real nodes.
func needNodeBinary(t *testing.T) {
	t.Helper()
	nodeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "yzma-controller-test")
		if err != nil {
			nodeBuildErr = err
			return
		}
		nodeBin = filepath.Join(dir, "node")
		if out, err := exec.Command("go", "build", "-o", nodeBin, "../../cmd/node").CombinedOutput(); err != nil {
			nodeBuildErr = fmt.Errorf("build node: %w\n%s", err, out)
		}
	})
	if nodeBuildErr != nil {
		t.Fatal(nodeBuildErr)
	}
}

// testCtx is a context that ends with the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// newNamespace starts the API server if needed and creates a namespace
// for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	needAPIServer(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// manager is a running controller manager.
type manager struct {
	r    *Reconciler
	stop func()
}

// startManager runs the YzmaCluster controller with nodes as its way to the
// pods until the test ends or stop is called.
func startManager(t *testing.T, nodes NodeClient) *manager {
	t.Helper()
	return startManagerWith(t, Options{Nodes: nodes, DefaultImage: "yzma:test"})
}

// startManagerWith is startManager with the reconciler's options.
func startManagerWith(t *testing.T, opts Options) *manager {
	t.Helper()
	o := kubetest.ManagerOptions(testScheme)
	o.Cache = CacheOptions(nil) // the manager's
	mgr, err := ctrl.NewManager(testCfg, o)
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	r, err := NewReconciler(mgr, opts)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	return &manager{r: r, stop: kubetest.RunManager(t, mgr)}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, 50*time.Millisecond, cond)
}

// getCluster reads the YzmaCluster.
func getCluster(t *testing.T, ns, name string) *yzmav1.YzmaCluster {
	t.Helper()
	var c yzmav1.YzmaCluster
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		t.Fatalf("get cluster: %v", err)
	}
	return &c
}

// newCluster creates a YzmaCluster of n replicas.
func newCluster(t *testing.T, ns, name string, n int32, mutate ...func(*yzmav1.YzmaCluster)) *yzmav1.YzmaCluster {
	t.Helper()
	c := &yzmav1.YzmaCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       yzmav1.YzmaClusterSpec{Replicas: ptr.To(n)},
	}
	for _, m := range mutate {
		m(c)
	}
	if err := k8s.Create(context.Background(), c); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	return c
}

// events lists the events of the namespace's objects with reason.
func eventsWithReason(t *testing.T, ns, reason string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}
