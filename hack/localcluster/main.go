// Command localcluster runs a local Kubernetes cluster without Docker (see
// package internal/localcluster): etcd, kube-apiserver and
// kube-controller-manager from bin/k8s, a process kubelet that runs the
// yzma image's programs, unpacked from its image archive, on loopback
// addresses, a hostPath provisioner and a DNS server. It runs until
// interrupted.
//
//	go run ./hack/localcluster [-dir .local/cluster] [-build=true]
//	    [-image-archive bin/yzma-image.tar]... [-tag yzma:latest]
//	    [-node-binary PATH] [-image REPO=PATH]... [-apply PATH]...
//	    [-operator=true] [-sample=true] [-v]
//
// It builds the image archive from this checkout (internal/image, as
// `make image` does) into the first -image-archive, tagged -tag (unless
// -build=false: then the archives must exist), starts the cluster with its
// files in -dir (wiping the previous cluster's state there) and the
// archives as its images, applies each -apply manifest file or directory
// (kubectl apply -f, or -k when it holds a kustomization.yaml), prints
//
//	export KUBECONFIG=<dir>/kubeconfig
//	export PATH=<checkout>/bin/k8s:$PATH
//
// on standard output (so `eval "$(…)"`-style use works, logs go to
// standard error) and runs until SIGINT or SIGTERM, when it stops every
// pod process and the control plane.
//
// With -operator (the default) it also installs the YzmaCluster CRD and
// runs the operator in this process, with -tag as its default node image
// (it reaches the pods at their loopback IPs) and, with -sample, applies
// config/samples' 3-node YzmaCluster, so that kubectl get yzma, kubectl
// scale and kubectl describe work at once.
//
// Control-plane logs are in <dir>/logs, each container's output in
// <dir>/pods/<ns>_<pod>_<uid>/<container>.log (also `kubectl logs`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/yzma/yzma/internal/image"
	"github.com/yzma/yzma/internal/localcluster"
)

func main() {
	os.Exit(run())
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run() int {
	root, err := modroot.Find()
	if err != nil {
		root, _ = os.Getwd()
	}
	var images, applies, archives listFlag
	dir := flag.String("dir", filepath.Join(root, ".local", "cluster"), "`directory` for the cluster's files")
	build := flag.Bool("build", true, "build the image archive (the first -image-archive) from this checkout first")
	flag.Var(&archives, "image-archive", "image archive `path` the kubelet runs images from (default bin/yzma-image.tar); repeatable")
	tag := flag.String("tag", image.DefaultTag, "the built image's `tag`, and the operator's default node image")
	nodeBin := flag.String("node-binary", "", "node binary `path` run for yzma images that no image archive holds")
	binDir := flag.String("bin-dir", "", "control-plane binaries `directory` (default $KUBEBUILDER_ASSETS or bin/k8s)")
	flag.Var(&images, "image", "map an image to a binary: `REPO=PATH` (PATH @command runs the container's command); repeatable")
	flag.Var(&applies, "apply", "manifest file or directory to apply once the cluster is up; repeatable")
	podKubeconfig := flag.Bool("pod-kubeconfig", false, "give every container KUBECONFIG=<admin kubeconfig>")
	withOperator := flag.Bool("operator", true, "install the YzmaCluster CRD and run the operator in this process")
	withSample := flag.Bool("sample", true, "apply config/samples' YzmaCluster (with -operator)")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "localcluster: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		return 2
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// controller-runtime's global logger, used by its caches.
	ctrllog.SetLogger(logr.FromSlogHandler(log.With("component", "controller-runtime").Handler()))

	imageMap := map[string]string{}
	for _, m := range images {
		repo, path, ok := strings.Cut(m, "=")
		if !ok || repo == "" || path == "" {
			log.Error("bad -image, want REPO=PATH", "value", m)
			return 2
		}
		imageMap[repo] = path
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(archives) == 0 {
		archives = listFlag{filepath.Join(root, "bin", "yzma-image.tar")}
	}
	if *build {
		began := time.Now()
		log.Info("building the image archive (the first time takes minutes)", "path", archives[0], "tag", *tag)
		if err := image.Build(ctx, image.Options{Root: root, Out: archives[0], Tag: *tag}); err != nil {
			log.Error("building the image archive", "err", err)
			return 1
		}
		log.Info("built the image archive", "path", archives[0], "tag", *tag, "took", time.Since(began).Round(time.Millisecond))
	}

	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, err := localcluster.Start(startCtx, localcluster.Options{
		Dir: *dir, BinDir: *binDir, ImageArchives: archives, NodeBinary: *nodeBin, ImageMap: imageMap,
		PodKubeconfig: *podKubeconfig, Logger: log,
		Setup: func(ctx context.Context, c *localcluster.Cluster) error {
			for _, path := range applies {
				if err := apply(ctx, c, path, log); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		if errors.Is(err, localcluster.ErrNoBinaries) {
			log.Error("the control-plane binaries are missing: run hack/k8s-bins.sh", "err", err)
		} else {
			log.Error("starting the cluster", "err", err)
		}
		return 1
	}
	kubectlDir := *binDir
	if kubectlDir == "" {
		kubectlDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if kubectlDir == "" {
		kubectlDir = filepath.Join(root, "bin", "k8s")
	}
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig())
	fmt.Printf("export PATH=%s:$PATH\n", kubectlDir)
	log.Info("cluster running; Ctrl-C stops it",
		"kubeconfig", c.Kubeconfig(), "dns", c.DNSAddr(), "logs", filepath.Join(c.Dir(), "logs"),
		"pods", filepath.Join(c.Dir(), "pods"))

	if *withOperator {
		if err := startOperator(ctx, c, root, *tag, *withSample, log); err != nil {
			log.Error("starting the operator", "err", err)
			_ = c.Stop()
			return 1
		}
	}

	<-ctx.Done()
	stop() // a second Ctrl-C kills at once
	log.Info("stopping the cluster")
	if err := c.Stop(); err != nil {
		log.Error("stopping the cluster", "err", err)
		return 1
	}
	return 0
}

// apply runs kubectl apply on a manifest file or directory (-k when the
// directory holds a kustomization).
func apply(ctx context.Context, c *localcluster.Cluster, path string, log *slog.Logger) error {
	mode := "-f"
	for _, k := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(path, k)); err == nil {
			mode = "-k"
		}
	}
	out, err := c.Kubectl(ctx, "apply", "--server-side", mode, path)
	if err != nil {
		return err
	}
	log.Info("applied", "path", path, "result", strings.TrimSpace(string(out)))
	return nil
}
