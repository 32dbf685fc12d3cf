// Images from archives (Options.ImageArchives): the tags of each archive,
// read when the cluster starts; the unpacking of an image into its root
// directory, once, the first time a container or ImageRoot needs it; and
// running a container from that root (prepareFromImage, imageExecPath).

package localcluster

import (
	"archive/tar"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// archiveImage is one image of an archive, known by one of its tags.
type archiveImage struct {
	archive string
	tag     string // as in the archive's manifest.json RepoTags
}

// unpackedImage is an image unpacked into root.
type unpackedImage struct {
	ref    string // the tag it was found by
	id     string // "sha256:<config digest>", the image ID
	root   string
	config v1.Config
}

// imageStore finds the images of the archives and unpacks them under dir.
type imageStore struct {
	dir  string
	log  *slog.Logger
	refs map[string]archiveImage // by canonical reference (imageKey)

	mu       sync.Mutex // held while unpacking: one image at a time
	unpacked map[string]*unpackedImage
}

// imageKey is the canonical form of an image reference, as a container
// runtime compares them: "yzma", "yzma:latest", "docker.io/library/yzma"
// and "index.docker.io/library/yzma:latest" are one image; a digest
// reference keeps its digest ("repo@sha256:…").
func imageKey(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if d, ok := r.(name.Digest); ok {
		return d.Context().Name() + "@" + d.DigestStr(), nil
	}
	return r.Name(), nil
}

// loadImages reads the tags (and manifest digests) of the images in each
// archive; an image in a later archive wins over one of the same tag in
// an earlier one, as `docker load` does.
func loadImages(dir string, archives []string, log *slog.Logger) (*imageStore, error) {
	s := &imageStore{dir: dir, log: log, refs: map[string]archiveImage{}, unpacked: map[string]*unpackedImage{}}
	for _, a := range archives {
		opener := func() (io.ReadCloser, error) { return os.Open(a) }
		m, err := tarball.LoadManifest(opener)
		if err != nil {
			return nil, fmt.Errorf("image archive %s: %w", a, err)
		}
		n := 0
		for _, desc := range m {
			for _, tag := range desc.RepoTags {
				t, err := name.NewTag(tag)
				if err != nil {
					return nil, fmt.Errorf("image archive %s: tag %q: %w", a, tag, err)
				}
				img, err := tarball.Image(opener, &t)
				if err != nil {
					return nil, fmt.Errorf("image archive %s: %s: %w", a, tag, err)
				}
				digest, err := img.Digest()
				if err != nil {
					return nil, fmt.Errorf("image archive %s: %s: %w", a, tag, err)
				}
				ai := archiveImage{archive: a, tag: tag}
				s.refs[t.Name()] = ai
				s.refs[t.Context().Name()+"@"+digest.String()] = ai
				n++
				log.Info("image archive", "archive", a, "image", tag, "digest", digest.String())
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("image archive %s holds no tagged image", a)
		}
	}
	return s, nil
}

// lookup finds the archive holding image.
func (s *imageStore) lookup(image string) (archiveImage, bool) {
	if s == nil {
		return archiveImage{}, false
	}
	key, err := imageKey(image)
	if err != nil {
		return archiveImage{}, false
	}
	ai, ok := s.refs[key]
	return ai, ok
}

// tags lists the images the archives hold, for error messages.
func (s *imageStore) tags() []string {
	var out []string
	if s != nil {
		for _, ai := range s.refs {
			if !slices.Contains(out, ai.tag) {
				out = append(out, ai.tag)
			}
		}
	}
	slices.Sort(out)
	return out
}

// get returns image unpacked, unpacking it the first time; nil when no
// archive holds it.
func (s *imageStore) get(image string) (*unpackedImage, error) {
	ai, ok := s.lookup(image)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ai.archive + "\x00" + ai.tag
	if u := s.unpacked[key]; u != nil {
		return u, nil
	}
	t, err := name.NewTag(ai.tag)
	if err != nil {
		return nil, err
	}
	img, err := tarball.ImageFromPath(ai.archive, &t)
	if err != nil {
		return nil, fmt.Errorf("image %s from %s: %w", ai.tag, ai.archive, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	// One directory per image ID: two tags of one image share it.
	root := filepath.Join(s.dir, id.Hex)
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		if err := unpack(img, s.dir, root); err != nil {
			return nil, fmt.Errorf("unpacking image %s from %s: %w", ai.tag, ai.archive, err)
		}
		s.log.Info("image unpacked", "image", ai.tag, "id", id.String(), "root", root)
	} else if err != nil {
		return nil, err
	}
	u := &unpackedImage{ref: ai.tag, id: id.String(), root: root, config: *cf.Config.DeepCopy()}
	s.unpacked[key] = u
	return u, nil
}

// unpack writes img's flattened file system (whiteouts applied) to root,
// through a temporary directory renamed at the end, so that root is
// complete or absent.
func unpack(img v1.Image, dir, root string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".unpack-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // empty after the rename
	rc := mutate.Extract(img)
	err = extractTar(rc, tmp)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, root)
}

// extractTar writes the tar stream r under dir. Every write goes through
// an os.Root, so no entry (a "../" name, a symlink to the host's /etc)
// can reach outside dir. Directories, regular files, symlinks and hard
// links are made with their permission bits (not their owners: the
// processes run as the cluster's user); other entries are skipped.
func extractTar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := path.Clean(strings.TrimLeft(h.Name, "/"))
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			continue
		}
		mode := fs.FileMode(h.Mode).Perm()
		if parent := path.Dir(p); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(p, 0o755); err != nil {
				return err
			}
			// Writable by its owner, so that the cluster can remove it.
			if err := root.Chmod(p, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			_ = root.Remove(p) // a later layer's file replaces the earlier one
			f, err := root.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := root.Chmod(p, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = root.Remove(p)
			if err := root.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			_ = root.Remove(p)
			if err := root.Link(path.Clean(strings.TrimLeft(h.Linkname, "/")), p); err != nil {
				return err
			}
		}
	}
}

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
