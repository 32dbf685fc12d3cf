package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// Manager metrics, served on the manager's metrics endpoint.
var (
	scaleDownSteps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yzma_operator_scaledown_steps_total",
		Help: "Scale-down steps (one pod each) by result: started, completed, reverted.",
	}, []string{"result"})
	leaveAttempts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "yzma_operator_leave_attempts_total",
		Help: "POST /cluster/leave calls made on leaving pods.",
	})
	leaveFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "yzma_operator_leave_failures_total",
		Help: "POST /cluster/leave calls that failed or timed out.",
	})
	leaveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "yzma_operator_leave_duration_seconds",
		Help:    "Duration of POST /cluster/leave calls, successful or not.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
	})
	clusterMembers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "yzma_operator_members",
		Help: "Alive members of each YzmaCluster, as a ready node reports them.",
	}, []string{"namespace", "name"})
	backupsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yzma_operator_backups_total",
		Help: "One-shot backups finished, by result: succeeded, failed.",
	}, []string{"result"})
	backupLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "yzma_operator_backup_last_success_timestamp_seconds",
		Help: "When the last successful backup of each YzmaCluster was taken (Unix time).",
	}, []string{"namespace", "name"})
	restoresTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yzma_operator_restores_total",
		Help: "Restores into new clusters finished, by result: succeeded, failed.",
	}, []string{"result"})
	scaleDownPhaseStarted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "yzma_operator_scaledown_phase_started_timestamp_seconds",
		Help: "When the scale-down step in progress of each YzmaCluster entered its phase (Unix time), by leaving pod and phase; absent while none runs.",
	}, []string{"namespace", "name", "pod", "phase"})
)

// recordClusterMetrics sets the per-cluster series from c's status after a
// pass; forgetClusterMetrics removes them once c is gone.
func recordClusterMetrics(c *yzmav1.YzmaCluster) {
	scaleDownPhaseStarted.DeletePartialMatch(prometheus.Labels{"namespace": c.Namespace, "name": c.Name})
	if op := c.Status.ScaleDown; op != nil {
		scaleDownPhaseStarted.WithLabelValues(c.Namespace, c.Name, op.Pod, string(op.Phase)).Set(float64(op.PhaseSince.Unix()))
	}
}

func forgetClusterMetrics(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	scaleDownPhaseStarted.DeletePartialMatch(labels)
	clusterMembers.DeletePartialMatch(labels)
	backupLastSuccess.DeletePartialMatch(labels)
}

func init() {
	metrics.Registry.MustRegister(scaleDownSteps, leaveAttempts, leaveFailures, leaveDuration, clusterMembers, scaleDownPhaseStarted,
		backupsTotal, backupLastSuccess, restoresTotal)
}
