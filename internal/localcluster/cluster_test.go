package localcluster_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/yzma/yzma/internal/localcluster"
)

// The tests share one cluster, started by the first test that needs it
// and stopped by TestMain.
var (
	shared     *localcluster.Cluster
	sharedErr  error
	sharedOnce sync.Once
	sharedTook time.Duration
	nodeBin    string
	binDir     string
	verbose    = flag.Bool("cluster.log", false, "log the cluster's own messages to stderr")
)

func TestMain(m *testing.M) {
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the cluster:", err)
			code = 1
		}
	}
	if nodeBin != "" {
		if err := os.RemoveAll(filepath.Dir(nodeBin)); err != nil {
			fmt.Fprintln(os.Stderr, "removing the node binary:", err)
		}
	}
	os.Exit(code)
}

// cluster returns the shared cluster, skipping the test when the
// control-plane binaries are missing.
func cluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	root, err := modroot.Find()
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("KUBEBUILDER_ASSETS")
	if bin == "" {
		bin = filepath.Join(root, "bin", "k8s")
	}
	binDir = bin
	if err := localcluster.CheckBinaries(bin); err != nil {
		t.Skipf("skipping: %v", err)
	}
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// The node binary of this checkout.
		dir, err := os.MkdirTemp("", "localcluster-node-")
		if err != nil {
			sharedErr = err
			return
		}
		nodeBin = filepath.Join(dir, "node")
		if sharedErr = localcluster.BuildNode(ctx, root, nodeBin); sharedErr != nil {
			return
		}
		// A tiny image, for the pods that run from an image archive.
		helloArchive, err := writeHelloImage(dir)
		if err != nil {
			sharedErr = err
			return
		}
		var logger *slog.Logger
		if *verbose {
			logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		began := time.Now()
		shared, sharedErr = localcluster.Start(ctx, localcluster.Options{
			BinDir: bin, NodeBinary: nodeBin, Logger: logger,
			ImageMap:      map[string]string{"busybox": localcluster.RunCommand},
			ImageArchives: []string{helloArchive},
		})
		sharedTook = time.Since(began)
	})
	if sharedErr != nil {
		t.Fatalf("starting the cluster: %v", sharedErr)
	}
	return shared
}

// eventually polls cond every 100ms until it returns nil or timeout passes,
// then fails with its last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = cond(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
