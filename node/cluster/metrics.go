package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg             prometheus.Registerer
	all             []prometheus.Collector
	pushedOps       *prometheus.CounterVec
	pushedBytes     prometheus.Counter
	pushSeconds     prometheus.Histogram
	opsReceived     prometheus.Counter
	bytesReceived   prometheus.Counter
	pulled          prometheus.Counter
	pulledBytes     prometheus.Counter
	rounds          prometheus.Counter
	snapshots       prometheus.Counter
	catchUpFailures prometheus.Counter
	leaves          *prometheus.CounterVec
}

func newMetrics(c *Cluster, reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg:             reg,
		pushedOps:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yzma_replication_pushed_ops_total", Help: "Operations pushed to peers."}, []string{"peer"}),
		pushedBytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_replication_pushed_bytes_total", Help: "Key and value bytes pushed to peers."}),
		pushSeconds:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "yzma_replication_push_seconds", Help: "Time for a peer to take one pushed batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		opsReceived:     prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_replication_received_ops_total", Help: "New operations peers pushed here."}),
		bytesReceived:   prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_replication_received_bytes_total", Help: "Key and value bytes of the operations peers pushed here."}),
		pulled:          prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_antientropy_pulled_ops_total", Help: "New operations pulled by anti-entropy and catch-up."}),
		pulledBytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_antientropy_pulled_bytes_total", Help: "Key and value bytes pulled by anti-entropy and catch-up."}),
		rounds:          prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_antientropy_rounds_total", Help: "Anti-entropy exchanges started."}),
		snapshots:       prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_antientropy_snapshots_total", Help: "Snapshots merged because the log no longer reached back far enough."}),
		catchUpFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "yzma_cluster_catchup_failures_total", Help: "Catch-up attempts that failed part-way and were retried."}),
		leaves:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yzma_cluster_leaves_total", Help: "Leave attempts by result."}, []string{"result"}),
	}
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yzma_replication_lag_ops", Help: "Operations this node holds that a peer is not known to have."}, []string{"peer"})
	m.all = []prometheus.Collector{m.pushedOps, m.pushedBytes, m.pushSeconds, m.opsReceived, m.bytesReceived, m.pulled, m.pulledBytes, m.rounds, m.snapshots, m.catchUpFailures, m.leaves,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_cluster_members", Help: "Live members, this node included."},
			func() float64 { return float64(len(c.alivePeers()) + 1) }),
		lagCollector{c: c, desc: lag},
	}
	if reg != nil {
		for _, col := range m.all {
			reg.MustRegister(col)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg != nil {
		for _, col := range m.all {
			m.reg.Unregister(col)
		}
	}
}

func (m *metrics) pushed(peer string, ops, bytes int, d time.Duration) {
	m.pushedOps.WithLabelValues(peer).Add(float64(ops))
	m.pushedBytes.Add(float64(bytes))
	m.pushSeconds.Observe(d.Seconds())
}

// lagCollector reports each live peer's lag when scraped.
type lagCollector struct {
	c    *Cluster
	desc *prometheus.GaugeVec
}

func (l lagCollector) Describe(ch chan<- *prometheus.Desc) { l.desc.Describe(ch) }

func (l lagCollector) Collect(ch chan<- prometheus.Metric) {
	mine := l.c.store.VersionVector()
	l.desc.Reset()
	for name, vv := range l.c.peerVVs() {
		l.desc.WithLabelValues(name).Set(float64(vv.Behind(mine)))
	}
	l.desc.Collect(ch)
}
