// Images from archives (Options.ImageArchives): the tags of each archive,
// read when the cluster starts, and the unpacking of an image into its root
// directory, once, the first time a container or ImageRoot needs it.
// Running a container from that root is in imagerun.go.

package localcluster

import (
	"archive/tar"
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
