// Command manager runs the Yzma operator: the YzmaCluster and YzmaBackup
// controllers, with leader election, health probes and Prometheus metrics.
//
// It runs in the cluster (config/manager) or on a laptop against a
// kubeconfig; outside the cluster it reaches the node pods through the API
// server's pod proxy, which keeps the Authorization header for itself, so
// the nodes' token travels in X-Yzma-Token there.
//
// By default it acts on YzmaClusters in every namespace. With
// WATCH_NAMESPACE (or -watch-namespace) set to a comma-separated list of
// namespaces it caches and reconciles only those, so that namespaced Roles
// suffice (config/namespaced); the leader election lease stays where
// -leader-election-namespace puts it. Either way the cache holds only
// Yzma's own pods and claims, and no Secret (controller.CacheOptions).
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/controller"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8383", "`address` the Prometheus metrics endpoint binds to; 0 disables it")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "`address` the /healthz and /readyz probes bind to")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader, so that only one of several managers acts")
	leaderNS := fs.String("leader-election-namespace", "", "`namespace` of the leader election lease (default: the manager's own, in cluster)")
	nodeImage := fs.String("node-image", envOr("YZMA_NODE_IMAGE", controller.DefaultImage), "node `image` when a YzmaCluster names none (env YZMA_NODE_IMAGE)")
	clusterDomain := fs.String("cluster-domain", "cluster.local", "the cluster's DNS `domain`")
	podAccess := fs.String("pod-access", "auto", "how to reach node pods: direct (pod IP, in cluster), proxy (API server pod proxy) or auto")
	neverMember := fs.Duration("never-member-timeout", controller.DefaultNeverMemberTimeout, "how long a scale-down waits for a pod no member ever saw before removing it without a leave")
	stuckPod := fs.Duration("stuck-pod-timeout", controller.DefaultStuckPodTimeout, "how long a pod of an outdated revision may stay unready before a rollout restarts it")
	watchNS := fs.String("watch-namespace", os.Getenv("WATCH_NAMESPACE"), "comma-separated `namespaces` whose YzmaClusters to reconcile; empty: all (env WATCH_NAMESPACE)")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	namespaces, err := parseNamespaces(*watchNS)
	if err != nil {
		log.Error(err, "invalid -watch-namespace (WATCH_NAMESPACE)")
		return 2
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes configuration (in-cluster or KUBECONFIG)")
		return 1
	}
	access := controller.PodAccess(*podAccess)
	if access == "auto" {
		access = controller.PodAccessProxy
		if _, inCluster := os.LookupEnv("KUBERNETES_SERVICE_HOST"); inCluster {
			access = controller.PodAccessDirect
		}
	}
	nodes, err := controller.NewHTTPNodeClient(access, cfg)
	if err != nil {
		log.Error(err, "node client")
		return 2
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(yzmav1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controller.CacheOptions(namespaces),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "yzma-operator.db.yzma.io",
		LeaderElectionNamespace: *leaderNS,
		// A new leader must not act while the old one may still be
		// calling leave: let it go as soon as it stops.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "create manager")
		return 1
	}
	if _, err := controller.NewReconciler(mgr, controller.Options{
		Nodes: nodes, DefaultImage: *nodeImage, ClusterDomain: *clusterDomain,
		NeverMemberTimeout: *neverMember, StuckPodTimeout: *stuckPod,
	}); err != nil {
		log.Error(err, "set up the YzmaCluster controller")
		return 1
	}
	if _, err := controller.NewBackupReconciler(mgr, controller.BackupOptions{
		DefaultImage: *nodeImage, ClusterDomain: *clusterDomain,
	}); err != nil {
		log.Error(err, "set up the YzmaBackup controller")
		return 1
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "ready check")
		return 1
	}
	watching := "all"
	if len(namespaces) > 0 {
		watching = strings.Join(namespaces, ",")
	}
	log.Info("starting manager", "podAccess", access, "nodeImage", *nodeImage, "leaderElection", *leaderElect, "namespaces", watching)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		return 1
	}
	fmt.Fprintln(os.Stderr, "manager: stopped")
	return 0
}

// parseNamespaces parses WATCH_NAMESPACE: namespace names separated by
// commas, with optional spaces; empty or blank, nil (every namespace).
// Duplicates are dropped; a name that is not a valid namespace is an error.
func parseNamespaces(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		ns := strings.TrimSpace(f)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
