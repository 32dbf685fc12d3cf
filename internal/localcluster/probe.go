// Probes: startProbes runs a container's startup, readiness and liveness
// probes and acts on their results; a prober runs one probe. doHTTPGet and
// runHostCommand also serve preStop hooks.

package localcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// startProbes runs c's startup probe, then its readiness and liveness
// probes, until ctx ends. A failing startup or liveness probe kills the
// process (supervise restarts it).
func (rt *podRuntime) startProbes(ctx context.Context, wg *sync.WaitGroup, c *container, exited chan struct{}) {
	mk := func(kind string, p *corev1.Probe) *prober {
		return &prober{kind: kind, probe: p, c: c.spec, ip: rt.ip, env: c.env, dir: c.dir, paths: c.paths, root: c.rootfs}
	}
	kill := func(kind, msg string) {
		rt.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
		rt.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, strings.ToLower(kind))
		rt.log.Info("probe failed: restarting container", "container", c.spec.Name, "probe", kind, "msg", msg)
		rt.mu.Lock()
		pid := c.pid
		rt.mu.Unlock()
		grace := rt.specGrace
		if c.spec.LivenessProbe != nil && c.spec.LivenessProbe.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*c.spec.LivenessProbe.TerminationGracePeriodSeconds) * time.Second
		}
		go stopGroup(pid, exited, grace, rt.hurry)
	}
	running := func() {
		if p := c.spec.ReadinessProbe; p != nil {
			wg.Go(func() {
				mk("Readiness", p).run(ctx, func(ok bool, msg string) {
					if !ok {
						rt.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %s", msg)
					}
					rt.mu.Lock()
					c.ready = ok
					rt.mu.Unlock()
					rt.pushStatus()
				})
			})
		}
		if p := c.spec.LivenessProbe; p != nil {
			wg.Go(func() {
				mk("Liveness", p).run(ctx, func(ok bool, msg string) {
					if !ok {
						kill("Liveness", msg)
					}
				})
			})
		}
	}
	p := c.spec.StartupProbe
	if p == nil {
		running()
		return
	}
	wg.Go(func() {
		sctx, done := context.WithCancel(ctx)
		defer done()
		mk("Startup", p).run(sctx, func(ok bool, msg string) {
			if !ok {
				kill("Startup", msg)
				done()
				return
			}
			rt.mu.Lock()
			c.started = true
			c.ready = c.spec.ReadinessProbe == nil
			rt.mu.Unlock()
			rt.pushStatus()
			running()
			done()
		})
	})
}

// prober runs one of a container's probes against its process.
type prober struct {
	kind  string // "Startup", "Readiness", "Liveness"
	probe *corev1.Probe
	c     *corev1.Container
	ip    string
	env   []string // exec probes run with the container's environment
	dir   string   // and working directory
	paths pathMap  // exec arguments are rewritten like the container's
	root  string   // and the program found in its image's root, if any
}

// run probes until ctx ends, calling report when the result flips (after
// successThreshold successes or failureThreshold failures). The first
// report of a Readiness or Startup probe is its first flip to success (they
// start failing); a Liveness probe starts succeeding, so its first report
// is a failure.
func (p *prober) run(ctx context.Context, report func(ok bool, msg string)) {
	pr := p.probe
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	if pr.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	successes, failures := max(pr.SuccessThreshold, 1), pr.FailureThreshold
	if failures <= 0 {
		failures = 3
	}
	state := p.kind == "Liveness"
	var succ, fail int32
	for {
		ok, msg := p.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if ok {
			succ, fail = succ+1, 0
		} else {
			succ, fail = 0, fail+1
		}
		switch {
		case ok && !state && succ >= successes:
			state = true
			report(true, msg)
		case !ok && state && fail >= failures, !ok && !state && fail == failures && p.kind != "Readiness":
			state = false
			report(false, msg)
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

// once runs the probe a single time.
func (p *prober) once(ctx context.Context) (bool, string) {
	timeout := time.Duration(max(p.probe.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := p.probe.ProbeHandler
	switch {
	case h.HTTPGet != nil:
		return p.httpGet(ctx, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := p.port(h.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = p.ip
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case h.Exec != nil:
		return p.exec(ctx, h.Exec.Command)
	}
	// gRPC probes are not supported: counted as passing.
	return true, "probe type not supported; assumed to pass"
}

func (p *prober) port(port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range p.c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", p.c.Name, port.StrVal)
}

var probeTransport = &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet: probes do not verify
	DisableKeepAlives: true,
}

func (p *prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction) (bool, string) {
	resp, err := doHTTPGet(ctx, g, p.ip, p.port)
	if err != nil {
		return false, err.Error()
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

// doHTTPGet performs an httpGet action (probe or preStop hook) against ip.
func doHTTPGet(ctx context.Context, g *corev1.HTTPGetAction, ip string, portOf func(intstr.IntOrString) (int, error)) (*http.Response, error) {
	port, err := portOf(g.Port)
	if err != nil {
		return nil, err
	}
	host := g.Host
	if host == "" {
		host = ip
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "kube-probe/localcluster")
	for _, hd := range g.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	resp, err := (&http.Client{Transport: probeTransport}).Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// exec runs an exec probe's command on the host.
func (p *prober) exec(ctx context.Context, argv []string) (bool, string) {
	err := runHostCommand(ctx, argv, p.env, p.dir, p.paths, p.root)
	if err != nil {
		return false, err.Error()
	}
	return true, ""
}

// runHostCommand runs a container's exec action (probe or hook) on the
// host, its arguments rewritten for the container's mounts; with rootfs
// (the container's image root), its program is the image's
// (imageExecPath).
func runHostCommand(ctx context.Context, argv, env []string, dir string, paths pathMap, rootfs string) error {
	if len(argv) == 0 {
		return fmt.Errorf("empty command")
	}
	bin, err := imageExecPath(argv[0], env, dir, rootfs, paths)
	if err != nil {
		return err
	}
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = paths.rewrite(a)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = procAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
