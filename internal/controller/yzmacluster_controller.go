package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// resyncInterval refreshes the membership in the status while nothing
// else happens.
const resyncInterval = 30 * time.Second

// Reconciler reconciles YzmaClusters. NewReconciler builds it.
type Reconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Nodes reaches the node pods.
	Nodes NodeClient
	// DefaultImage is the node image of a cluster that names none, at its
	// creation or while it follows the operator (see nodeImage).
	DefaultImage string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// APIReader reads straight from the API server (the manager's
	// GetAPIReader): the YzmaCluster, so that no pass acts on a stale
	// scale-down step, and Secrets, so that their contents are never cached.
	APIReader client.Reader

	leaves *leaves
	now    func() time.Time
	// neverMemberTimeout and stuckPodTimeout: see Options.
	neverMemberTimeout time.Duration
	stuckPodTimeout    time.Duration
}

// Options are the reconciler's settings that do not come from the manager.
type Options struct {
	// Nodes reaches the node pods (required): an HTTPNodeClient, or a
	// stand-in in tests.
	Nodes NodeClient
	// DefaultImage is the node image of a cluster that names none (see
	// nodeImage); empty: DefaultImage.
	DefaultImage string
	// ClusterDomain is the cluster's DNS domain; empty: cluster.local.
	ClusterDomain string
	// NeverMemberTimeout is how long a scale-down waits for a pod that no
	// member has ever seen before it removes it without a leave; zero:
	// DefaultNeverMemberTimeout.
	NeverMemberTimeout time.Duration
	// StuckPodTimeout is how long a pod of an outdated revision may stay
	// unready before it is restarted on the current one; zero:
	// DefaultStuckPodTimeout.
	StuckPodTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultNeverMemberTimeout = 2 * time.Minute
	DefaultStuckPodTimeout    = time.Minute
)

// NewReconciler builds the YzmaCluster reconciler on mgr's client, scheme
// and API reader, with an event recorder named after the operator, and
// registers it with mgr (SetupWithManager); it runs once mgr starts. It is
// the one way the manager (cmd/manager), the local cluster
// (hack/localcluster) and the tests build it.
func NewReconciler(mgr ctrl.Manager, opts Options) (*Reconciler, error) {
	if opts.Nodes == nil {
		return nil, errors.New("reconciler: no NodeClient")
	}
	r := &Reconciler{
		Client:        mgr.GetClient(),
		Scheme:        mgr.GetScheme(),
		Recorder:      mgr.GetEventRecorder(managerName),
		Nodes:         opts.Nodes,
		DefaultImage:  cmp.Or(opts.DefaultImage, DefaultImage),
		ClusterDomain: cmp.Or(opts.ClusterDomain, "cluster.local"),
		APIReader:     mgr.GetAPIReader(),
		leaves:        newLeaves(),
		now:           time.Now,

		neverMemberTimeout: cmp.Or(opts.NeverMemberTimeout, DefaultNeverMemberTimeout),
		stuckPodTimeout:    cmp.Or(opts.StuckPodTimeout, DefaultStuckPodTimeout),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return r, nil
}

// +kubebuilder:rbac:groups=db.yzma.io,resources=yzmaclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=db.yzma.io,resources=yzmaclusters/status,verbs=get;update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=pods/proxy,verbs=get;create
// Secrets: read one by one through the APIReader, never listed nor
// watched (see SetupWithManager); created when generated (the TLS, CA and
// auth Secrets of a cluster) and updated to renew the certificate
// (secrets.go).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// The restore Job (restore.go), the backup it restores from, and that
// Job's pod for its report, read through the APIReader.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=db.yzma.io,resources=yzmabackups,verbs=get;list;watch

// Reconcile brings one YzmaCluster's children to its spec, one step per
// file (see the package documentation), and records the status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// Read past the cache: the scale-down step recorded by the last pass
	// must be the one acted on.
	var c yzmav1.YzmaCluster
	if err := r.APIReader.Get(ctx, req.NamespacedName, &c); err != nil {
		if apierrors.IsNotFound(err) {
			forgetClusterMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // children go by garbage collection
	}
	if paused(&c) {
		return ctrl.Result{}, r.recordPaused(ctx, &c)
	}
	meta.RemoveStatusCondition(&c.Status.Conditions, yzmav1.ConditionPaused)
	p := &pass{c: &c, clusterDomain: r.ClusterDomain}
	err := r.reconcile(ctx, p)
	if err != nil {
		r.event(&c, corev1.EventTypeWarning, reasonReconcileError, "Reconcile", "%v", err)
	}
	setStatus(&c, p.sts, p.image, err)
	recordClusterMetrics(&c)
	if uerr := r.Status().Update(ctx, &c); uerr != nil {
		if apierrors.IsConflict(uerr) { // another pass wrote first: redo on its state
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("update status: %w", uerr))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	p.wantRequeue(resyncInterval)
	return ctrl.Result{RequeueAfter: p.requeue}, nil
}

// step is one step of a reconcile pass, in a file of its own (see the
// package documentation): it reads and fills the pass's state and acts on
// the cluster; its error ends the pass.
type step func(ctx context.Context, p *pass) error

// steps are the steps of a pass, in order.
func (r *Reconciler) steps() []step {
	return []step{
		r.reconcileSecrets,             // secrets.go
		r.reconcileServices,            // services.go
		r.reconcilePodDisruptionBudget, // poddisruption.go
		r.observe,                      // observe.go
		r.reconcileScaleDown,           // scaledown.go
		r.planRollout,                  // rollout.go
		r.reconcileStatefulSet,         // statefulset.go
		r.reconcileVolumes,             // volumes.go
		r.observe,                      // observe.go again: the status shows what was applied
		r.refreshMembers,               // members.go
		r.rejoinLeftNodes,              // rejoin.go
		r.reconcileRestore,             // restore.go: last, it never holds up the rest
	}
}

// reconcile runs the steps of one pass.
func (r *Reconciler) reconcile(ctx context.Context, p *pass) error {
	for _, step := range r.steps() {
		if err := step(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// apply server-side-applies obj as a controlled child of c.
func (r *Reconciler) apply(ctx context.Context, c *yzmav1.YzmaCluster, obj client.Object) error {
	if err := controllerutil.SetControllerReference(c, obj, r.Scheme); err != nil {
		return fmt.Errorf("owner reference on %s: %w", obj.GetName(), err)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %s: %w", obj.GetName(), err)
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner(managerName), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}

// event records an event on c.
func (r *Reconciler) event(c *yzmav1.YzmaCluster, typ, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(c, nil, typ, reason, action, format, args...)
	}
}

// SetupWithManager registers the reconciler (NewReconciler calls it): it
// watches YzmaClusters, their children (the restore Job too), their pods
// (only Yzma's are cached, see CacheOptions), the YzmaBackups clusters
// restore from, and finished leave calls.
//
// It does not watch Secrets, so that the operator needs neither list nor
// watch on them, and none is cached: every pass reads the ones the pods
// mount afresh (secrets.go), and a changed value changes the
// configuration hash in the pod template, which rolls the pods. A change
// (a rotated token, a renewed certificate) is therefore seen within
// resyncInterval, and so is a Secret created for a cluster whose passes
// fail for want of it: failed passes are retried with a backoff capped at
// resyncInterval (controller-runtime's default grows to 16 minutes).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&yzmav1.YzmaCluster{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&batchv1.Job{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToCluster)).
		Watches(&yzmav1.YzmaBackup{}, handler.EnqueueRequestsFromMapFunc(r.backupToClusters)).
		WatchesRawSource(source.Channel(r.leaves.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(crcontroller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, resyncInterval),
		}).
		Complete(r)
}

// podToCluster maps a node pod to its YzmaCluster by the instance label.
func podToCluster(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[labelName] != appName || l[labelInstance] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: l[labelInstance]}}}
}
