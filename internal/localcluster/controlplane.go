package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ErrNoBinaries reports that the control-plane binaries are missing.
var ErrNoBinaries = errors.New("control-plane binaries missing")

// DefaultControllers are the kube-controller-manager controllers run by
// default: workloads (StatefulSet, Deployment, ReplicaSet, Job),
// garbage collection, namespaces, service accounts, disruption budgets,
// and volume binding and protection. Not the EndpointSlice controllers:
// the API server refuses loopback addresses in EndpointSlices (the DNS
// server works from the Pods instead).
var DefaultControllers = []string{
	"statefulset", "deployment", "replicaset", "job", "garbagecollector", "namespace",
	"serviceaccount", "serviceaccount-token", "disruption", "persistentvolume-binder",
	"pvc-protection", "pv-protection", "podgc", "ttl-after-finished",
}

// CheckBinaries reports (wrapping ErrNoBinaries) whether dir lacks etcd,
// kube-apiserver or kube-controller-manager.
func CheckBinaries(dir string) error {
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w in %s: %s (build them with hack/k8s-bins.sh)", ErrNoBinaries, dir, strings.Join(missing, ", "))
	}
	return nil
}

// startControlPlane starts etcd and kube-apiserver with envtest, writes
// the admin kubeconfig and starts kube-controller-manager.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	cpDir := filepath.Join(c.dir, "controlplane")
	logDir := filepath.Join(c.dir, "logs")
	for _, d := range []string{filepath.Join(cpDir, "etcd"), filepath.Join(cpDir, "pki"), logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	wrap := func(name string) (string, error) {
		return deathWrapper(filepath.Join(cpDir, "bin"), filepath.Join(c.opts.BinDir, name))
	}
	etcdPath, err := wrap("etcd")
	if err != nil {
		return err
	}
	apiPath, err := wrap("kube-apiserver")
	if err != nil {
		return err
	}
	etcdLog, err := os.Create(filepath.Join(logDir, "etcd.log"))
	if err != nil {
		return err
	}
	apiLog, err := os.Create(filepath.Join(logDir, "kube-apiserver.log"))
	if err != nil {
		_ = etcdLog.Close() // nothing was written to it yet
		return err
	}
	c.closers = append(c.closers, etcdLog.Close, apiLog.Close)
	api := &envtest.APIServer{
		Path: apiPath, CertDir: filepath.Join(cpDir, "pki"),
		Out: apiLog, Err: apiLog, StartTimeout: c.opts.StartTimeout, StopTimeout: 20 * time.Second,
	}
	// Pods are reachable at the Node's InternalIP only.
	api.Configure().Set("kubelet-preferred-address-types", "InternalIP")
	if c.kubeletPKI, err = newKubeletPKI(filepath.Join(cpDir, "pki")); err != nil {
		return err
	}
	api.Configure().Set("kubelet-certificate-authority", c.kubeletPKI.caFile)
	api.Configure().Set("kubelet-client-certificate", c.kubeletPKI.clientCertFile)
	api.Configure().Set("kubelet-client-key", c.kubeletPKI.clientKeyFile)
	c.cp = &envtest.ControlPlane{
		Etcd: &envtest.Etcd{
			Path: etcdPath, DataDir: filepath.Join(cpDir, "etcd"),
			Out: etcdLog, Err: etcdLog, StartTimeout: c.opts.StartTimeout, StopTimeout: 20 * time.Second,
		},
		APIServer: api,
	}
	c.log.Info("starting etcd and kube-apiserver", "logs", logDir)
	if err := c.cp.Start(); err != nil {
		return fmt.Errorf("control plane: %w (logs in %s)", err, logDir)
	}

	admin, err := c.cp.AddUser(envtest.User{Name: "localcluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	c.cfg = admin.Config()
	c.cfg.QPS, c.cfg.Burst = 100, 200
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.cfg); err != nil {
		return err
	}
	caPath := filepath.Join(cpDir, "ca.crt")
	if err := os.WriteFile(caPath, c.cfg.CAData, 0o644); err != nil {
		return err
	}

	kcmUser, err := c.cp.AddUser(envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kcmKubeconfig := filepath.Join(cpDir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, kcmUser.Config()); err != nil {
		return err
	}
	c.kcm = &supervised{
		name: "kube-controller-manager",
		path: filepath.Join(c.opts.BinDir, "kube-controller-manager"),
		args: []string{
			"--kubeconfig=" + kcmKubeconfig,
			"--controllers=" + strings.Join(c.opts.Controllers, ","),
			"--leader-elect=false",
			"--secure-port=0",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + filepath.Join(cpDir, "pki", "sa-signer.key"),
			"--root-ca-file=" + caPath,
			"--cluster-name=localcluster",
			"--concurrent-statefulset-syncs=5",
			"--v=1",
		},
		logPath: filepath.Join(logDir, "kube-controller-manager.log"),
		log:     c.log,
	}
	return c.kcm.start()
}

// waitControllers waits until kube-controller-manager works, seen from the
// default ServiceAccount it creates (when that controller runs).
func (c *Cluster) waitControllers(ctx context.Context, cl client.Client) error {
	sa := false
	for _, name := range c.opts.Controllers {
		sa = sa || name == "serviceaccount" || name == "serviceaccount-controller"
	}
	if !sa {
		return nil
	}
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var acct corev1.ServiceAccount
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, &acct)
		return err == nil, nil
	})
}

// writeKubeconfig writes a kubeconfig for cfg (client certificate auth)
// with one context, "localcluster".
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["localcluster"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["localcluster"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
	}
	kc.Contexts["localcluster"] = &clientcmdapi.Context{Cluster: "localcluster", AuthInfo: "localcluster", Namespace: "default"}
	kc.CurrentContext = "localcluster"
	return clientcmd.WriteToFile(*kc, path)
}
