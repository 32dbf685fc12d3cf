// Preparing a Pod before its containers run: its directories and volumes,
// and each container's binary, arguments, environment and mounts, retried
// until they can be made (a claim not bound yet, a Secret missing). A
// container whose image an archive holds is prepared by prepareFromImage
// (archive.go).

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// prepareLoop retries preparing the Pod until it works or the Pod is
// deleted; it reports whether containers may run.
func (rt *podRuntime) prepareLoop() bool {
	for attempt := 0; ; attempt++ {
		err := rt.prepare()
		if err == nil {
			rt.mu.Lock()
			rt.prepared = true
			rt.mu.Unlock()
			rt.pushStatus()
			return true
		}
		reason := "ContainerCreating"
		var ce *configError
		if errors.As(err, &ce) {
			reason = ce.reason
		}
		switch {
		case attempt == 0:
			rt.log.Debug("pod waiting", "reason", reason, "err", err)
		case attempt%30 == 10:
			rt.log.Info("pod still waiting", "reason", reason, "err", err)
		}
		rt.mu.Lock()
		for _, c := range rt.all() {
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
		}
		rt.mu.Unlock()
		rt.pushStatus()
		// Claims bind within a second or so: look often at first.
		wait := time.Second
		if attempt < 10 {
			wait = 200 * time.Millisecond
		}
		select {
		case <-rt.termCh:
			return false
		case <-time.After(wait):
		}
	}
}

// prepare makes the Pod's directories and volumes and each container's
// argv, environment and mounts.
func (rt *podRuntime) prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := objects{ctx: ctx, c: rt.k.api, ns: rt.key.Namespace}
	home, tmp := filepath.Join(rt.dir, "home"), filepath.Join(rt.dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	vols, err := podVolumes(o, rt.pod, rt.dir)
	if err != nil {
		return err
	}
	hostname := rt.pod.Spec.Hostname
	if hostname == "" {
		hostname = rt.pod.Name
	}
	host := [][2]string{
		{"PATH", envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")},
		{"HOSTNAME", hostname},
		{"HOME", home},
		{"TMPDIR", tmp},
	}
	injected := append(slices.Clone(rt.k.baseEnv),
		[2]string{"YZMA_BIND_HOST", rt.ip}, [2]string{"YZMA_DNS_SERVER", rt.k.dnsAddr})
	base := append(slices.Clone(host), injected...)
	for _, c := range rt.all() {
		// An image from an archive runs from its unpacked root.
		img, err := rt.k.images.get(c.spec.Image)
		if err != nil {
			return configErrorf("ErrImagePull", "%v", err)
		}
		if img != nil {
			if err := rt.prepareFromImage(o, c, img, host, injected, vols); err != nil {
				return err
			}
			continue
		}
		bin, args, err := containerArgv(rt.k.imageMap, c.spec.Image, c.spec.Command, c.spec.Args)
		if err != nil {
			if tags := rt.k.images.tags(); len(tags) > 0 {
				err = fmt.Errorf("%w, nor in an image archive (they hold %q)", err, tags)
			}
			return configErrorf("ErrImagePull", "%v", err)
		}
		env, err := containerEnv(o, rt.pod, c.spec, base)
		if err != nil {
			return err
		}
		paths, err := containerMounts(c.spec, vols, env)
		if err != nil {
			return configErrorf("CreateContainerConfigError", "%v", err)
		}
		c.addTerminationFile(&paths, rt.dir)
		c.args = make([]string, len(args))
		for i, a := range args {
			c.args[i] = paths.rewrite(expand(a, env.get))
		}
		rewriteEnv(env, paths, base)
		c.bin, c.env, c.paths = bin, env.environ(), paths
		c.dir = rt.dir
		if c.spec.WorkingDir != "" {
			c.dir = paths.rewrite(c.spec.WorkingDir)
			if err := os.MkdirAll(c.dir, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
