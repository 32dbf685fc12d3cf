// Package monitoring holds no code, only the tests of the Prometheus
// monitoring manifests in config/prometheus (which, not being Go, cannot
// hold their own):
//
//   - every yzma_* metric name the alerts, the dashboard and the monitors
//     mention is one the code registers (a Name: "yzma_…" in a
//     prometheus.*Opts or a prometheus.NewDesc under node, internal or
//     cmd), histograms' _bucket, _sum and _count series included;
//   - every alert has a severity, a summary, a description and a for;
//     the dashboard is JSON with the data source, namespace and cluster
//     variables, and every panel query names its data source;
//   - `kubectl kustomize config/prometheus` (bin/k8s/kubectl) renders
//     objects that a real kube-apiserver, with the Prometheus Operator's
//     CRDs installed, accepts in a server-side dry run with strict field
//     validation, so a misspelt field fails as it would on a cluster;
//   - the PodMonitor selects the pods and port the operator really gives
//     a YzmaCluster's nodes (the reconciler runs against that API server
//     and creates the StatefulSet), the rules' volume join matches its claim
//     names, and the ServiceMonitor selects the manager's metrics Service
//     of config/default and none of a YzmaCluster's Services;
//   - with promtool on the PATH (Debian's prometheus package; skipped
//     otherwise), every alert expression and dashboard query parses as
//     PromQL, and promtool test rules runs testdata/alerts_test.yaml: each
//     alert fires on the series it is for, after its for, and not on
//     healthy ones.
//
// testdata/prometheus-operator-crds holds the three CRDs the manifests
// need (PodMonitor, ServiceMonitor, PrometheusRule), copied unchanged from
// the Go module github.com/prometheus-operator/prometheus-operator
// v0.85.0, example/prometheus-operator-crd/ (Apache-2.0, LICENSE beside
// them). They are test data only: a cluster gets them from its Prometheus
// Operator installation, so config/prometheus does not ship them.
//
// Run: KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/monitoring/
// (the API server test needs etcd, kube-apiserver and kubectl in bin/k8s,
// from hack/k8s-bins.sh, like the controller's tests).
package monitoring
