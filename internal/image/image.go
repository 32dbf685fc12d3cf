package image

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultTag is the image's tag unless told otherwise: the Makefile's IMG
// and the operator's default node image (internal/controller.DefaultImage).
const DefaultTag = "yzma:latest"

// Yzma's image configuration; the Dockerfile's final stage says the same
// (TestDockerfileMatchesArchive).
const (
	User       = "65532:65532"
	WorkingDir = "/"
)

var (
	// Entrypoint is the manager: the image is the operator's, and the
	// node's StatefulSets give command ["/node"].
	Entrypoint = []string{"/manager"}
	// Env is distroless's and Docker's default PATH, set explicitly so
	// that every builder writes the same config.
	Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	// Commands are the binaries: ./cmd/<name> becomes /<name>.
	Commands = []string{"node", "manager", "yzmactl"}
)

// rootfs holds the image's files other than the binaries; the Dockerfile
// copies the same directory.
//
//go:embed rootfs
var rootfs embed.FS

// File is one regular file of an image: Data, or the contents of the host
// file Source.
type File struct {
	Path   string      // absolute, in the image
	Mode   fs.FileMode // permission bits
	Data   []byte
	Source string
}

// Config is the image's configuration besides its files.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	OS, Arch   string    // default linux and runtime.GOARCH
	Created    time.Time // every timestamp; zero: see CreatedTime
}

// CreatedTime is the time stamped on everything in an image:
// $SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the Unix
// epoch.
func CreatedTime() (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

// YzmaConfig is Yzma's image configuration for arch (empty: the host's).
func YzmaConfig(arch string) Config {
	return Config{
		Entrypoint: slices.Clone(Entrypoint), Env: slices.Clone(Env),
		User: User, WorkingDir: WorkingDir, OS: "linux", Arch: arch,
	}
}

// YzmaFiles are Yzma's image files: rootfs/ (0644) and the binaries
// Commands found in binDir (0755).
func YzmaFiles(binDir string) ([]File, error) {
	var files []File
	err := fs.WalkDir(rootfs, "rootfs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := rootfs.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Path: strings.TrimPrefix(p, "rootfs"), Mode: 0o644, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range Commands {
		src := filepath.Join(binDir, c)
		if _, err := os.Stat(src); err != nil {
			return nil, err
		}
		files = append(files, File{Path: "/" + c, Mode: 0o755, Source: src})
	}
	return files, nil
}

// Write writes the image made of files (in one layer, on an empty base)
// and cfg as a docker-save style archive at out, tagged tag ("yzma:latest",
// "registry.example/yzma:v1"). Parent directories are added (0755); every
// entry is owned by 0:0 and stamped cfg.Created.
func Write(out, tag string, cfg Config, files []File) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", tag, err)
	}
	img, err := Image(cfg, files)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	// Write next to out and rename, so that a reader never sees half an
	// archive (and a failed build leaves the previous one).
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone after the rename
	if err := tarball.Write(ref, img, tmp); err != nil {
		_ = tmp.Close() // the write error is the one to report
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// Image builds the image in memory: its layer is compressed once and kept.
func Image(cfg Config, files []File) (v1.Image, error) {
	if cfg.Created.IsZero() {
		t, err := CreatedTime()
		if err != nil {
			return nil, err
		}
		cfg.Created = t
	}
	cfg.OS = cmp.Or(cfg.OS, "linux")
	cfg.Arch = cmp.Or(cfg.Arch, runtime.GOARCH)
	layerTar, err := layerTar(files, cfg.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(layerTar)), nil
	}, tarball.WithCompressionLevel(gzip.DefaultCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: cfg.Created}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "github.com/yzma/yzma/internal/image",
			Comment:   "files: " + strings.Join(filePaths(files), " "),
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created, cf.OS, cf.Architecture = created, cfg.OS, cfg.Arch
	cf.Config = v1.Config{
		Entrypoint: slices.Clone(cfg.Entrypoint), Cmd: slices.Clone(cfg.Cmd), Env: slices.Clone(cfg.Env),
		User: cfg.User, WorkingDir: cfg.WorkingDir,
	}
	return mutate.ConfigFile(img, cf)
}

func filePaths(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

// layerTar is the layer's uncompressed tar: the directories, then the
// files, each sorted by path.
func layerTar(files []File, mtime time.Time) (string, error) {
	byPath := map[string]File{}
	dirs := map[string]bool{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" || p != f.Path {
			return "", fmt.Errorf("image file %q: want a clean absolute path", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return "", fmt.Errorf("image file %s given twice", p)
		}
		byPath[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var b strings.Builder
	tw := tar.NewWriter(&b)
	hdr := func(name string, typ byte, mode int64, size int64) *tar.Header {
		return &tar.Header{
			Name: name, Typeflag: typ, Mode: mode, Size: size,
			ModTime: mtime, Uid: 0, Gid: 0,
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(hdr(strings.TrimPrefix(d, "/")+"/", tar.TypeDir, 0o755, 0)); err != nil {
			return "", err
		}
	}
	for _, p := range sortedKeys(byPath) {
		f := byPath[p]
		data := f.Data
		if f.Source != "" {
			var err error
			if data, err = os.ReadFile(f.Source); err != nil {
				return "", err
			}
		}
		if err := tw.WriteHeader(hdr(strings.TrimPrefix(p, "/"), tar.TypeReg, int64(f.Mode.Perm()), int64(len(data)))); err != nil {
			return "", err
		}
		if _, err := tw.Write(data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Tags lists the tags (manifest.json's RepoTags) of the images in the
// archive at path.
func Tags(path string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, fmt.Errorf("image archive %s: %w", path, err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	return tags, nil
}
