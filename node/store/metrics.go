package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg       prometheus.Registerer
	all       []prometheus.Collector
	commitDur prometheus.Histogram
	batchSize prometheus.Histogram
	ops       *prometheus.CounterVec
	bytes     prometheus.Counter
	pruned    prometheus.Counter
	shed      prometheus.Counter
}

func newMetrics(s *Store, reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg: reg,
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "yzma_store_commit_seconds", Help: "Time to commit and fsync one group of writes.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "yzma_store_commit_batch_ops", Help: "Requests sharing one commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yzma_store_local_ops_total", Help: "Writes and deletes made on this node.",
		}, []string{"kind"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yzma_store_written_bytes_total", Help: "Value bytes written on this node.",
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yzma_store_pruned_log_ops_total", Help: "Operations dropped from the log once every member had them.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yzma_store_shed_writes_total", Help: "Writes refused because the write queue was full.",
		}),
	}
	m.all = []prometheus.Collector{m.commitDur, m.batchSize, m.ops, m.bytes, m.pruned, m.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_queued_writes", Help: "Writes waiting for a commit."},
			func() float64 { n, _ := s.queued(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_queued_bytes", Help: "Bytes of the writes waiting for a commit."},
			func() float64 { _, b := s.queued(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_log_bytes", Help: "Size of the operation log's entries."},
			func() float64 { return float64(s.LogBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_keys", Help: "Live keys."},
			func() float64 { s.mu.RLock(); defer s.mu.RUnlock(); return float64(s.nkeys) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_file_bytes", Help: "Size of the data file."},
			func() float64 { return float64(sizeOf(s.path)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "yzma_store_expiring_versions", Help: "Expiry times queued: versions written with a TTL, not yet removed."},
			func() float64 { return float64(s.Expiring()) }),
	}
	if reg != nil {
		for _, c := range m.all {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg != nil {
		for _, c := range m.all {
			m.reg.Unregister(c)
		}
	}
}

func (m *metrics) commit(d time.Duration, n int) {
	m.commitDur.Observe(d.Seconds())
	m.batchSize.Observe(float64(n))
}

func (m *metrics) localOp(del bool, n int) {
	if del {
		m.ops.WithLabelValues("delete").Inc()
		return
	}
	m.ops.WithLabelValues("put").Inc()
	m.bytes.Add(float64(n))
}
