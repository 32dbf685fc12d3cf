// Package kubetest holds what the tests that talk to Kubernetes share: the
// real API server (kube-apiserver and etcd from bin/k8s, see
// hack/k8s-bins.sh) with Yzma's CRD, started on first use; a controller
// manager run for one test; the logger of such a suite; and manifests
// rendered with bin/k8s/kubectl or read from files, as objects. It is test
// support only: no program imports it.
package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yzma/yzma/internal/modroot"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
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

// Assets is the absolute path of the module's bin/k8s, with etcd,
// kube-apiserver and kubectl; it fails unless each of bins is there.
func Assets(bins ...string) (string, error) {
	root, err := modroot.Find()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "k8s")
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("these tests need the control-plane binaries in bin/k8s: run `make test` or hack/k8s-bins.sh (%w)", err)
		}
	}
	return dir, nil
}

// SetupLogger sends controller-runtime's logs to stderr, errors only
// unless YZMA_TEST_LOG is set (YZMA_TEST_LOG=1 shows the reconciler's
// logs): call it from TestMain.
func SetupLogger() {
	level := zapcore.ErrorLevel
	if os.Getenv("YZMA_TEST_LOG") != "" {
		level = zapcore.DebugLevel
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
}

// NewScheme is a scheme with client-go's types and Yzma's.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(yzmav1.AddToScheme(s))
	return s
}

// Env is an API server with the YzmaCluster CRD (config/crd/bases) and
// those of CRDDirs, started by the first Need and shared by a package's
// tests; TestMain stops it after m.Run.
type Env struct {
	// Scheme is the client's.
	Scheme *runtime.Scheme
	// CRDDirs are further CRD directories (relative to the package's
	// directory, or absolute).
	CRDDirs []string

	once   sync.Once
	err    error
	env    *envtest.Environment
	cfg    *rest.Config
	client client.Client
}

// Need starts the API server on first use, so that the tests that need
// none run without it, and returns its config and a client with
// e.Scheme; it fails t if the server did not start.
func (e *Env) Need(t testing.TB) (*rest.Config, client.Client) {
	t.Helper()
	e.once.Do(func() { e.err = e.start() })
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.cfg, e.client
}

func (e *Env) start() error {
	root, err := modroot.Find()
	if err != nil {
		return err
	}
	assets, err := Assets("kube-apiserver", "etcd")
	if err != nil {
		return err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases")}, e.CRDDirs...),
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	e.env, e.cfg = env, cfg
	if e.client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// Stop stops the API server if Need started it, reporting a failure on
// stderr: call it from TestMain after m.Run.
func (e *Env) Stop() {
	if e.env == nil {
		return
	}
	if err := e.env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
	}
}

// ManagerOptions are a test's manager options: scheme, no metrics or
// health endpoints, and controller names that may repeat, as tests run
// several managers in one process.
func ManagerOptions(scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// RunManager runs mgr until the test ends or stop is called; stop returns
// once the manager has, and may be called more than once.
func RunManager(t testing.TB, mgr ctrl.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// Kustomize renders the kustomization in dir with bin/k8s/kubectl into
// its objects; it fails t if there are none.
func Kustomize(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	assets, err := Assets()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("this test needs kubectl in bin/k8s: run `make test` or hack/k8s-bins.sh kubectl (%v)", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objs := DecodeAll(t, "kubectl kustomize "+dir, stdout.Bytes())
	if len(objs) == 0 {
		t.Fatalf("kubectl kustomize %s: no objects", dir)
	}
	return objs
}

// DecodeAll decodes a multi-document YAML (or JSON) stream, skipping empty
// documents; what names the stream in a failure.
func DecodeAll(t testing.TB, what string, raw []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("%s: decode: %v", what, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
}

// Find returns the objects of kind named name ("": any name), in order.
func Find(objs []*unstructured.Unstructured, kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind && (name == "" || u.GetName() == name) {
			out = append(out, u)
		}
	}
	return out
}
