package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/controller"
	"github.com/yzma/yzma/internal/localcluster"
)

// startOperator installs the CRD, runs the YzmaCluster controller in this
// process until ctx ends, with nodeImage as its default node image, and,
// if sample is set, applies the sample cluster.
func startOperator(ctx context.Context, c *localcluster.Cluster, root, nodeImage string, sample bool, log *slog.Logger) error {
	if err := apply(ctx, c, filepath.Join(root, "config", "crd", "bases"), log); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(yzmav1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(c.RESTConfig(), ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(nil), // as cmd/manager's: Yzma's pods and claims only
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("operator manager: %w", err)
	}
	// The API server does not proxy to loopback addresses: dial the pods.
	nodes, err := controller.NewHTTPNodeClient(controller.PodAccessDirect, nil)
	if err != nil {
		return err
	}
	if _, err := controller.NewReconciler(mgr, controller.Options{Nodes: nodes, DefaultImage: nodeImage}); err != nil {
		return fmt.Errorf("operator controller: %w", err)
	}
	if _, err := controller.NewBackupReconciler(mgr, controller.BackupOptions{DefaultImage: nodeImage}); err != nil {
		return fmt.Errorf("backup controller: %w", err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			log.Error("operator stopped", "err", err)
		}
	}()
	log.Info("operator running in this process")
	if !sample {
		return nil
	}
	if err := apply(ctx, c, filepath.Join(root, "config", "samples", "db_v1alpha1_yzmacluster.yaml"), log); err != nil {
		return err
	}
	log.Info("try: kubectl get yzma -w; kubectl scale yzmacluster/yzma-sample --replicas=5; kubectl describe yzma yzma-sample")
	log.Info("the API is HTTPS with a token: the README's local Kubernetes section shows how to take ca.crt and the token " +
		"from the Secrets yzma-sample-tls and yzma-sample-auth for kubectl port-forward and curl")
	return nil
}
