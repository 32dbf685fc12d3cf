package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Options configure a local cluster. The zero value works from a checkout
// whose bin/k8s holds the control-plane binaries.
type Options struct {
	// Dir holds everything the cluster writes (see Cluster.Dir). Start
	// wipes the cluster's state found there. Empty: a temporary directory
	// that Stop removes.
	Dir string
	// BinDir holds etcd, kube-apiserver and kube-controller-manager (and
	// kubectl). Empty: $KUBEBUILDER_ASSETS, else bin/k8s in the module
	// root.
	BinDir string
	// ImageArchives are image archives in the docker-save format (docker
	// save, internal/image, make image): a container whose image one of
	// them holds (by tag, "yzma:latest", or by digest) runs from that
	// image's files, unpacked once under Dir/images; see the package
	// documentation. They come before NodeBinary and ImageMap.
	ImageArchives []string
	// NodeBinary is the Yzma node binary, run for images whose repository
	// is or ends in "yzma" that no image archive holds. Empty: bin/node in
	// the module root (see BuildNode), unless ImageArchives are given:
	// then such images are not mapped to a binary at all.
	NodeBinary string
	// ImageMap maps further images (repository, or full reference) to
	// binaries, or to RunCommand; see the package documentation.
	ImageMap map[string]string
	// NodeName is the one Node's name; default "localcluster".
	NodeName string
	// ClusterDomain defaults to "cluster.local".
	ClusterDomain string
	// Controllers are kube-controller-manager's --controllers; default
	// DefaultControllers.
	Controllers []string
	// FirstPodIP is the first loopback address given to a Pod. Default:
	// 127.B.0.1 with B the first /16 block no other local cluster on the
	// machine holds (1 when alone), so that clusters can run side by side.
	FirstPodIP string
	// DNSAddr is where the DNS server listens; default 127.0.0.1 on a free
	// port.
	DNSAddr string
	// PodEnv is added to every container's environment (the container's
	// own variables win).
	PodEnv map[string]string
	// PodKubeconfig sets KUBECONFIG in every container to the admin
	// kubeconfig, for programs (an operator's manager) that would use the
	// in-cluster configuration, which the process kubelet cannot provide.
	PodKubeconfig bool
	// StopGrace bounds how long Stop lets each Pod's processes stop after
	// SIGTERM; default 10s.
	StopGrace time.Duration
	// StartTimeout bounds each control-plane process's start; default 2m.
	StartTimeout time.Duration
	// Logger receives the cluster's own log (not the processes' output,
	// which goes to files); nil discards it. controller-runtime's global
	// logger (sigs.k8s.io/controller-runtime/pkg/log.SetLogger), which its
	// caches use too, is the caller's to set.
	Logger *slog.Logger
	// Setup, if set, runs at the end of Start with the running cluster
	// (install CRDs, apply manifests, start an operator); its error fails
	// Start.
	Setup func(ctx context.Context, c *Cluster) error
}

// Cluster is a running local cluster.
type Cluster struct {
	opts       Options
	dir        string
	tempDir    bool
	log        *slog.Logger
	cp         *envtest.ControlPlane
	cfg        *rest.Config
	kubeconfig string
	kcm        *supervised
	kubelet    *kubelet
	images     *imageStore
	dns        *dnsServer
	logs       *logServer
	kubeletPKI *kubeletPKI
	client     client.Client
	mgrCancel  context.CancelFunc
	mgrDone    chan error
	closers    []func() error

	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster and returns once the API server answers, the
// controllers run and the Node is Ready. ctx bounds the start only; the
// cluster runs until Stop.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	began := time.Now()
	c = &Cluster{log: opts.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	if err := c.setDefaults(opts); err != nil {
		return c, err
	}
	if err := c.startControlPlane(ctx); err != nil {
		return c, err
	}
	if err := c.startNode(ctx); err != nil {
		return c, err
	}
	if err := c.waitControllers(ctx, c.client); err != nil {
		return c, fmt.Errorf("kube-controller-manager did not come up (log %s): %w", c.kcm.logPath, err)
	}
	c.log.Info("cluster up", "took", time.Since(began).Round(time.Millisecond), "kubeconfig", c.kubeconfig,
		"dns", c.dns.addr, "dir", c.dir)
	if c.opts.Setup != nil {
		if err := c.opts.Setup(ctx, c); err != nil {
			return c, fmt.Errorf("setup: %w", err)
		}
	}
	return c, nil
}

func (c *Cluster) setDefaults(opts Options) error {
	c.opts = opts
	o := &c.opts
	mapNode := o.NodeBinary != "" || len(o.ImageArchives) == 0
	needRoot := o.BinDir == "" && os.Getenv("KUBEBUILDER_ASSETS") == "" || o.NodeBinary == "" && mapNode
	root := ""
	if needRoot {
		var err error
		if root, err = modroot.Find(); err != nil {
			return err
		}
	}
	if o.BinDir == "" {
		o.BinDir = os.Getenv("KUBEBUILDER_ASSETS")
		if o.BinDir == "" {
			o.BinDir = filepath.Join(root, "bin", "k8s")
		}
	}
	if err := CheckBinaries(o.BinDir); err != nil {
		return err
	}
	images := map[string]string{}
	if mapNode {
		nodeBinary := o.NodeBinary
		if nodeBinary == "" {
			nodeBinary = filepath.Join(root, "bin", "node")
			if _, err := os.Stat(nodeBinary); err != nil {
				c.log.Warn("node binary missing: pods running the yzma image will fail (see BuildNode)", "path", nodeBinary)
			}
		}
		images["yzma"] = nodeBinary
	}
	for k, v := range o.ImageMap {
		images[k] = v
	}
	for k, v := range images {
		if v == RunCommand {
			continue
		}
		abs, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		images[k] = abs
		if _, err := os.Stat(abs); err != nil && (k != "yzma" || o.NodeBinary != "") {
			return fmt.Errorf("image %s: %w", k, err)
		}
	}
	o.ImageMap = images
	archives := make([]string, len(o.ImageArchives))
	for i, a := range o.ImageArchives {
		abs, err := filepath.Abs(a)
		if err != nil {
			return err
		}
		archives[i] = abs
	}
	o.ImageArchives = archives
	if o.NodeName == "" {
		o.NodeName = "localcluster"
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers
	}
	if o.DNSAddr == "" {
		o.DNSAddr = "127.0.0.1:0"
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}

	if o.Dir == "" {
		d, err := os.MkdirTemp("", "localcluster-")
		if err != nil {
			return err
		}
		c.dir, c.tempDir = d, true
	} else {
		d, err := filepath.Abs(o.Dir)
		if err != nil {
			return err
		}
		c.dir = d
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.lockDir(); err != nil {
		return err
	}
	// A fresh cluster every time: the state of an earlier one goes.
	for _, sub := range []string{"controlplane", "logs", "pods", "volumes", "images", "kubeconfig"} {
		if err := os.RemoveAll(filepath.Join(c.dir, sub)); err != nil {
			return err
		}
	}
	if len(o.ImageArchives) > 0 {
		var err error
		c.images, err = loadImages(filepath.Join(c.dir, "images"), o.ImageArchives, c.log.With("component", "kubelet"))
		if err != nil {
			return err
		}
	}
	return nil
}

// lockDir holds an exclusive flock on Dir/lock while the cluster runs, so
// that a second cluster does not wipe a running one's files.
func (c *Cluster) lockDir() error {
	f, err := os.OpenFile(filepath.Join(c.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // nothing was written to it
		return fmt.Errorf("another local cluster is running in %s: %w", c.dir, err)
	}
	c.closers = append(c.closers, f.Close)
	return nil
}

// startNode starts the process kubelet, the storage provisioner, the DNS
// server and the kubelet's log server, and registers the Node.
func (c *Cluster) startNode(ctx context.Context) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := manager.New(c.cfg, manager.Options{
		Scheme:                 scheme,
		Logger:                 logr.FromSlogHandler(quieter{c.log.With("component", "controller-runtime").Handler()}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	c.client, err = client.New(c.cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	first, last := c.opts.FirstPodIP, "127.255.255.254"
	if first == "" {
		var release func()
		first, last, release, err = leaseBlock()
		if err != nil {
			return err
		}
		c.closers = append(c.closers, func() error { release(); return nil })
	}
	ips, err := newIPPool(first, last)
	if err != nil {
		return err
	}
	c.dns, err = listenDNS(c.opts.DNSAddr, c.opts.ClusterDomain, mgr.GetCache(), c.log.With("component", "dns"))
	if err != nil {
		return err
	}
	var baseEnv [][2]string
	if c.opts.PodKubeconfig {
		baseEnv = append(baseEnv, [2]string{"KUBECONFIG", c.kubeconfig})
	}
	if v := os.Getenv("GOCOVERDIR"); v != "" {
		baseEnv = append(baseEnv, [2]string{"GOCOVERDIR", v})
	}
	names := make([]string, 0, len(c.opts.PodEnv))
	for k := range c.opts.PodEnv {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		baseEnv = append(baseEnv, [2]string{k, c.opts.PodEnv[k]})
	}
	c.kubelet = &kubelet{
		c: mgr.GetClient(), api: mgr.GetAPIReader(), rec: mgr.GetEventRecorder("kubelet"),
		log: c.log.With("component", "kubelet"), nodeName: c.opts.NodeName,
		podsDir: filepath.Join(c.dir, "pods"), imageMap: c.opts.ImageMap, images: c.images, baseEnv: baseEnv,
		dnsAddr: c.dns.addr, ips: ips, grace: c.opts.StopGrace, pods: map[types.UID]*podRuntime{},
	}
	c.logs, err = listenLogs(c.kubelet, c.kubeletPKI, c.log.With("component", "kubelet"))
	if err != nil {
		return err
	}
	c.kubelet.logPort = c.logs.port()
	if err := c.kubelet.setup(mgr); err != nil {
		return err
	}
	prov := &provisioner{c: mgr.GetClient(), api: mgr.GetAPIReader(), root: filepath.Join(c.dir, "volumes"),
		log: c.log.With("component", "provisioner")}
	if err := prov.setup(mgr); err != nil {
		return err
	}
	// The DNS server reads Services from the cache: inform on them from
	// the start.
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Service{}); err != nil {
		return err
	}
	if err := c.kubelet.registerNode(ctx); err != nil {
		return err
	}
	if err := c.client.Create(ctx, defaultStorageClass()); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}

	mctx, cancel := context.WithCancel(context.Background())
	c.mgrCancel, c.mgrDone = cancel, make(chan error, 1)
	go func() {
		c.mgrDone <- mgr.Start(mctx)
	}()
	go c.kubelet.heartbeats(mctx)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("kubelet cache did not sync")
	}
	return nil
}

// Stop stops the Pods' processes, the kubelet, kube-controller-manager,
// kube-apiserver and etcd, and removes Dir if Start made it. It is safe to
// call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		began := time.Now()
		var errs []error
		if c.kubelet != nil {
			c.kubelet.stopAll()
		}
		if c.mgrCancel != nil {
			c.mgrCancel()
			if err := <-c.mgrDone; err != nil {
				errs = append(errs, fmt.Errorf("kubelet: %w", err))
			}
		}
		if c.logs != nil {
			c.logs.close()
		}
		if c.dns != nil {
			c.dns.close()
		}
		if c.kcm != nil {
			c.kcm.stop(5 * time.Second)
		}
		if c.cp != nil {
			if err := c.cp.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range c.closers {
			_ = f()
		}
		if c.tempDir {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
		c.log.Info("cluster stopped", "took", time.Since(began).Round(time.Millisecond))
	})
	return c.stopErr
}

// Kubeconfig is the path of the admin kubeconfig (user in system:masters,
// context "localcluster").
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin REST configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// Client is an uncached admin client with the client-go scheme.
func (c *Cluster) Client() client.Client { return c.client }

// Dir is where the cluster keeps its files: kubeconfig; logs/ (etcd,
// kube-apiserver, kube-controller-manager); controlplane/ (etcd data,
// certificates); pods/<ns>_<name>_<uid>/ (container logs, per-Pod
// volumes); volumes/ (claims' directories); images/<image ID>/ (images
// unpacked from ImageArchives).
func (c *Cluster) Dir() string { return c.dir }

// DNSAddr is the DNS server's host:port (UDP and TCP).
func (c *Cluster) DNSAddr() string { return c.dns.addr }

// Resolver resolves names with the cluster's DNS server (after the host's
// /etc/hosts), so that code outside the cluster (a test, an operator
// running in the test process) can use names such as
// yzma-0.yzma.default.svc.cluster.local.
func (c *Cluster) Resolver() *net.Resolver {
	addr := c.dns.addr
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// DialContext dials addr resolving its host with Resolver; it fits
// http.Transport.DialContext.
func (c *Cluster) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Resolver: c.Resolver()}
	return d.DialContext(ctx, network, addr)
}

// NodeName is the name of the cluster's one Node.
func (c *Cluster) NodeName() string { return c.opts.NodeName }

// quieter passes controller-runtime's informational messages (controllers
// starting and stopping) only when debug logging is on.
type quieter struct{ slog.Handler }

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelWarn && !q.Handler.Enabled(ctx, slog.LevelDebug) {
		return false
	}
	return q.Handler.Enabled(ctx, l)
}

func (q quieter) WithAttrs(as []slog.Attr) slog.Handler { return quieter{q.Handler.WithAttrs(as)} }
func (q quieter) WithGroup(name string) slog.Handler    { return quieter{q.Handler.WithGroup(name)} }
