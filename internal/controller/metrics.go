package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
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
)

func init() {
	metrics.Registry.MustRegister(scaleDownSteps, leaveAttempts, leaveFailures, leaveDuration, clusterMembers)
}
