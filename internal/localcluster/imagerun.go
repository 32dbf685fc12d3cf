// Running a container from an unpacked image (archive.go): the program and
// working directory resolved inside the image root as a chroot would, the
// argv by Kubernetes' rules from the image's entrypoint and cmd, and the
// environment from the image's, the kubelet's and the container's.

package localcluster

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// resolveIn resolves the image path p inside root as a chroot would:
// symlinks are followed, absolute ones from root, ".." stops at root. It
// returns the host path, free of symlinks, so always inside root.
func resolveIn(root, p string) (string, error) {
	parts := strings.Split(p, "/")
	cur := "" // resolved so far, relative to root
	for links := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = ""
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

// imageExecPath finds the file that argv0 runs in a container of the image at
// rootfs, as the runtime would in the container: a name without a slash
// is searched in the container's PATH; a relative path is taken from the
// working directory dir (a host path); a path under a volume mount is
// that volume's file; anything else is the image's file. The answer is a
// host path. With rootfs empty (an image-map binary on the host), argv0
// is only mapped through the mounts.
func imageExecPath(argv0 string, env []string, dir, rootfs string, paths pathMap) (string, error) {
	if rootfs == "" {
		return paths.rewrite(argv0), nil
	}
	var candidates []string
	switch {
	case strings.HasPrefix(argv0, "/"):
		candidates = []string{argv0}
	case strings.Contains(argv0, "/"):
		rel, err := filepath.Rel(rootfs, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return argv0, nil // the working directory is a volume: relative to it on the host
		}
		candidates = []string{path.Join("/", filepath.ToSlash(rel), argv0)}
	default:
		pathVar := ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				pathVar = v
			}
		}
		for d := range strings.SplitSeq(pathVar, ":") {
			if strings.HasPrefix(d, "/") {
				candidates = append(candidates, path.Join(d, argv0))
			}
		}
	}
	var firstErr error
	for _, c := range candidates {
		host, ok := paths.rewritePath(c)
		if !ok {
			var err error
			if host, err = resolveIn(rootfs, c); err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
		}
		fi, err := os.Stat(host)
		switch {
		case err != nil:
			firstErr = cmp.Or(firstErr, err)
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			firstErr = cmp.Or(firstErr, fmt.Errorf("%s: permission denied", c))
		default:
			return host, nil
		}
	}
	if len(candidates) == 1 && firstErr != nil {
		return "", fmt.Errorf("exec %q in the image: %w", argv0, firstErr)
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH of the image", argv0)
}

// imageArgv is what a container of img runs, Kubernetes' way: the
// container's command and args; its args after the image's entrypoint;
// or the image's entrypoint and cmd. Only the container's own words get
// $(VAR) expansion.
func imageArgv(cfg v1.Config, command, args []string, lookup func(string) (string, bool)) []string {
	exp := func(words []string) []string {
		out := make([]string, len(words))
		for i, w := range words {
			out[i] = expand(w, lookup)
		}
		return out
	}
	switch {
	case len(command) > 0:
		return append(exp(command), exp(args)...)
	case len(args) > 0:
		return append(slices.Clone(cfg.Entrypoint), exp(args)...)
	}
	return append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
}

// prepareFromImage prepares container c to run from img's root: its
// environment is the kubelet's (PATH, HOSTNAME, HOME, TMPDIR), then the
// image's, then the injected variables, then the container's own (whose
// $(VAR) references, as in Kubernetes, see the container's variables and
// the kubelet's, not the image's); its argv follows imageArgv, the
// program resolved by imageExecPath; its working directory is the
// container's, else the image's, in the image's root (or a volume).
func (rt *podRuntime) prepareFromImage(o objects, c *container, img *unpackedImage, host, injected [][2]string,
	vols map[string]string) error {
	kubelet := append(slices.Clone(host), injected...)
	own, err := containerEnv(o, rt.pod, c.spec, kubelet)
	if err != nil {
		return err
	}
	env := &envList{}
	for _, kv := range host {
		env.set(kv[0], kv[1])
	}
	for _, kv := range img.config.Env {
		k, v, _ := strings.Cut(kv, "=")
		env.set(k, v)
	}
	for _, kv := range injected {
		env.set(kv[0], kv[1])
	}
	kubeletVals := map[string]string{}
	for _, kv := range kubelet {
		kubeletVals[kv[0]] = kv[1]
	}
	for _, n := range own.names {
		if v, ok := kubeletVals[n]; !ok || v != own.vals[n] {
			env.set(n, own.vals[n]) // the container's own variables win
		}
	}
	paths, err := containerMounts(c.spec, vols, own)
	if err != nil {
		return configErrorf("CreateContainerConfigError", "%v", err)
	}
	c.addTerminationFile(&paths, rt.dir)
	argv := imageArgv(img.config, c.spec.Command, c.spec.Args, own.get)
	if len(argv) == 0 {
		return configErrorf("CreateContainerError", "image %s has no entrypoint and the container no command", c.spec.Image)
	}
	for i := range argv[1:] {
		argv[1+i] = paths.rewrite(argv[1+i])
	}
	rewriteEnv(env, paths, kubelet)

	wd := cmp.Or(c.spec.WorkingDir, img.config.WorkingDir, "/")
	if !path.IsAbs(wd) {
		return configErrorf("CreateContainerConfigError", "working directory %q is not absolute", wd)
	}
	dir, mounted := paths.rewritePath(path.Clean(wd))
	if !mounted {
		r, err := os.OpenRoot(img.root)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path.Clean(wd), "/")
		if rel != "" {
			err = r.MkdirAll(rel, 0o755)
		}
		_ = r.Close() // only directories were made
		if err != nil {
			return configErrorf("CreateContainerError", "working directory %s: %v", wd, err)
		}
		if dir, err = resolveIn(img.root, wd); err != nil {
			return configErrorf("CreateContainerError", "working directory %s: %v", wd, err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	environ := env.environ()
	bin, err := imageExecPath(argv[0], environ, dir, img.root, paths)
	if err != nil {
		return configErrorf("CreateContainerError", "%v", err)
	}
	c.bin, c.args, c.env, c.paths, c.dir = bin, argv[1:], environ, paths, dir
	c.rootfs, c.imageID = img.root, img.id
	return nil
}

// rewriteEnv maps the environment's volume paths to their host
// directories, but not the values the kubelet itself set (HOME, TMPDIR,
// KUBECONFIG… are host paths already) unless the container changed them.
func rewriteEnv(env *envList, paths pathMap, kubelet [][2]string) {
	own := map[string]string{}
	for _, kv := range kubelet {
		own[kv[0]] = kv[1]
	}
	for _, n := range env.names {
		if v, ok := own[n]; ok && v == env.vals[n] {
			continue
		}
		env.vals[n] = paths.rewrite(env.vals[n])
	}
}

// ImageRoot returns the root directory of image, unpacked from the
// archive that holds it (once; later calls return the same directory),
// for running its programs outside a Pod (an operator's manager, say).
// Its files are shared by every container of the image: do not change
// them.
func (c *Cluster) ImageRoot(image string) (string, error) {
	u, err := c.images.get(image)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", fmt.Errorf("image %q is in no image archive (archives hold %q)", image, c.images.tags())
	}
	return u.root, nil
}
