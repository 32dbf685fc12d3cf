package controller

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions are the manager cache settings the reconciler is written
// for; the manager (cmd/manager) and the local cluster (hack/localcluster)
// pass them as ctrl.Options.Cache:
//
//   - Pods and PersistentVolumeClaims only when they are a Yzma cluster's:
//     labelled app.kubernetes.io/name=yzma with an app.kubernetes.io/instance
//     (nodeCacheSelector). The reconciler lists both by those labels
//     (observe.go, volumes.go) and maps pod events by them (podToCluster),
//     so no other pod or claim in the cluster is held in memory.
//   - Jobs only when they are the operator's backup and restore Jobs
//     (app.kubernetes.io/name=yzma, managed by the operator, jobLabels);
//     their pods are not cached: the reconcilers read the finished one's
//     report through the APIReader.
//   - No Secrets: the reconciler reads them one by one through the
//     APIReader (secrets.go) and does not watch them, so the manager needs
//     neither list nor watch on Secrets (only get, and create and update
//     for the ones it generates), and holds no Secret in memory.
//   - With namespaces, only those namespaces, for every kind; none: all.
func CacheOptions(namespaces []string) cache.Options {
	nodes := cache.ByObject{Label: nodeCacheSelector()}
	o := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}:                   nodes,
		&corev1.PersistentVolumeClaim{}: nodes,
		&batchv1.Job{}:                  {Label: labels.SelectorFromSet(labels.Set{labelName: appName, labelManagedBy: managerName})},
	}}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// nodeCacheSelector selects the pods and claims of every Yzma cluster:
// selectorLabels without a particular instance. The operator's own pod
// (app.kubernetes.io/name=yzma, no instance) is not one of them.
func nodeCacheSelector() labels.Selector {
	instance, err := labels.NewRequirement(labelInstance, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant, valid key
	}
	return labels.SelectorFromSet(labels.Set{labelName: appName}).Add(*instance)
}
