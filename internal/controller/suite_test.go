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

	"github.com/yzma/yzma/internal/testwait"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// The API server (real kube-apiserver and etcd from bin/k8s, see
// hack/k8s-bins.sh), started on first use and shared by the tests of this
// package; each test works in its own namespace.
var (
	testCfg    *rest.Config
	testScheme = runtime.NewScheme()
	k8s        client.Client
	nodeBin    string // cmd/node, built once
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
	utilruntime.Must(yzmav1.AddToScheme(testScheme))
	level := zapcore.ErrorLevel // YZMA_TEST_LOG=1 shows the reconciler's logs
	if os.Getenv("YZMA_TEST_LOG") != "" {
		level = zapcore.DebugLevel
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	code := m.Run()
	if testEnv != nil {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}
	if nodeBin != "" {
		if err := os.RemoveAll(filepath.Dir(nodeBin)); err != nil {
			fmt.Fprintf(os.Stderr, "remove the node binary: %v\n", err)
		}
	}
	return code
}

var (
	testEnv      *envtest.Environment
	apiOnce      sync.Once
	apiErr       error
	nodeOnce     sync.Once
	nodeBuildErr error
)

// needAPIServer starts the shared API server on first use, so that tests
// that need none (the builders') run without it.
func needAPIServer(t *testing.T) {
	t.Helper()
	apiOnce.Do(func() { apiErr = startAPIServer() })
	if apiErr != nil {
		t.Fatal(apiErr)
	}
}

func startAPIServer() error {
	assets, err := filepath.Abs("../../bin/k8s")
	if err != nil {
		return err
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return fmt.Errorf("these tests need the control-plane binaries in bin/k8s: run `make test` or hack/k8s-bins.sh (%w)", err)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	if testCfg, err = env.Start(); err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	testEnv = env
	if k8s, err = client.New(testCfg, client.Options{Scheme: testScheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
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
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                 testScheme,
		Cache:                  CacheOptions(nil), // the manager's
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Tests run several managers in one process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	r, err := NewReconciler(mgr, opts)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return &manager{r: r, stop: stop}
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
