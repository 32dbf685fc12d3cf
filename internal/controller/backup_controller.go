package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// BackupReconciler reconciles YzmaBackups (see the package documentation,
// "Backups"). NewBackupReconciler builds it.
type BackupReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// APIReader reads the backup Jobs' pods, which the manager does not
	// cache (only the node pods, CacheOptions).
	APIReader client.Reader
	// DefaultImage is the backup Job's image when the cluster records none.
	DefaultImage string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// Clock tells the schedules' time.
	Clock clock.PassiveClock
}

// BackupOptions are the backup reconciler's settings that do not come from
// the manager.
type BackupOptions struct {
	// DefaultImage: see Options.DefaultImage.
	DefaultImage string
	// ClusterDomain: see Options.ClusterDomain.
	ClusterDomain string
	// Clock tells the time (tests drive schedules with a fake one); nil:
	// the real clock.
	Clock clock.PassiveClock
}

// NewBackupReconciler builds the YzmaBackup reconciler on mgr and
// registers it (SetupWithManager), as NewReconciler does the
// YzmaCluster one.
func NewBackupReconciler(mgr ctrl.Manager, opts BackupOptions) (*BackupReconciler, error) {
	r := &BackupReconciler{
		Client:        mgr.GetClient(),
		Scheme:        mgr.GetScheme(),
		Recorder:      mgr.GetEventRecorder(managerName),
		APIReader:     mgr.GetAPIReader(),
		DefaultImage:  cmp.Or(opts.DefaultImage, DefaultImage),
		ClusterDomain: cmp.Or(opts.ClusterDomain, "cluster.local"),
		Clock:         opts.Clock,
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return r, nil
}

// +kubebuilder:rbac:groups=db.yzma.io,resources=yzmabackups,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=db.yzma.io,resources=yzmabackups/status,verbs=get;update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// backupPass is what one reconcile pass knows about a YzmaBackup; every
// backup step reads and fills it.
type backupPass struct {
	b       *yzmav1.YzmaBackup
	now     time.Time           // the Clock's, once per pass
	job     *batchv1.Job        // the one-shot's Job; nil before it exists (backup_observe.go)
	cluster *yzmav1.YzmaCluster // the cluster to back up, once available (backup_cluster.go)
	// done ends the pass after the current step: the backup waits, or its
	// state is settled.
	done    bool
	requeue time.Duration // the soonest the pass wants to run again
}

// wantRequeue asks for another pass within d.
func (p *backupPass) wantRequeue(d time.Duration) {
	if p.requeue == 0 || d < p.requeue {
		p.requeue = d
	}
}

// backupStep is one step of a backup pass, in a file of its own.
type backupStep func(ctx context.Context, p *backupPass) error

// backupSteps are the steps for b: a schedule creates and prunes one-shot
// backups; a one-shot backup runs its Job.
func (r *BackupReconciler) backupSteps(b *yzmav1.YzmaBackup) []backupStep {
	if b.Spec.Schedule != "" {
		return []backupStep{
			r.runSchedule,    // backup_schedule.go
			r.pruneScheduled, // backup_retention.go
		}
	}
	return []backupStep{
		r.observeBackupJob, // backup_observe.go
		r.waitForCluster,   // backup_cluster.go
		r.createBackupJob,  // backup_job.go
		r.backupResult,     // backup_result.go
	}
}

// Reconcile runs the steps for one YzmaBackup and records its status. A
// finished one-shot backup is left alone.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var b yzmav1.YzmaBackup
	if err := r.Get(ctx, req.NamespacedName, &b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() || b.Spec.Schedule == "" && backupFinished(&b) {
		return ctrl.Result{}, nil
	}
	p := &backupPass{b: &b, now: r.Clock.Now()}
	var err error
	for _, step := range r.backupSteps(&b) {
		if err = step(ctx, p); err != nil || p.done {
			break
		}
	}
	if err != nil {
		log.FromContext(ctx).Error(err, "backup pass")
		r.event(&b, corev1.EventTypeWarning, reasonReconcileError, "Reconcile", "%v", err)
	}
	b.Status.ObservedGeneration = b.Generation
	if uerr := r.Status().Update(ctx, &b); uerr != nil {
		if apierrors.IsConflict(uerr) { // another pass wrote first: redo on its state
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("update status: %w", uerr))
	}
	return ctrl.Result{RequeueAfter: p.requeue}, err
}

// backupFinished says whether a one-shot backup has Succeeded or Failed.
func backupFinished(b *yzmav1.YzmaBackup) bool {
	return b.Status.Phase == yzmav1.BackupSucceeded || b.Status.Phase == yzmav1.BackupFailed
}

// event records an event on b.
func (r *BackupReconciler) event(b *yzmav1.YzmaBackup, typ, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, typ, reason, action, format, args...)
	}
}

// SetupWithManager registers the reconciler (NewBackupReconciler calls
// it): it watches YzmaBackups, the backups a schedule created and the
// Jobs it owns, and YzmaClusters, so that a backup waiting for its
// cluster starts once the cluster is available.
func (r *BackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&yzmav1.YzmaBackup{}).
		Owns(&yzmav1.YzmaBackup{}).
		Owns(&batchv1.Job{}).
		Watches(&yzmav1.YzmaCluster{}, handler.EnqueueRequestsFromMapFunc(r.clusterToBackups)).
		WithOptions(crcontroller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, resyncInterval),
		}).
		Named("yzmabackup").
		Complete(r)
}

// clusterToBackups maps a YzmaCluster to the one-shot backups of it that
// have not finished.
func (r *BackupReconciler) clusterToBackups(ctx context.Context, obj client.Object) []reconcile.Request {
	var list yzmav1.YzmaBackupList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list backups")
		return nil
	}
	var reqs []reconcile.Request
	for _, b := range list.Items {
		if b.Spec.Cluster == obj.GetName() && b.Spec.Schedule == "" && !backupFinished(&b) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Name}})
		}
	}
	return reqs
}
