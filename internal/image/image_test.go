package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fakeBinaries writes small stand-ins for the binaries; the builder does
// not look inside them.
func fakeBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range Commands {
		if err := os.WriteFile(filepath.Join(dir, c), []byte("binary "+c+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeYzma writes Yzma's image with fake binaries to a new archive.
func writeYzma(t *testing.T, tag string) string {
	t.Helper()
	files, err := YzmaFiles(fakeBinaries(t))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "yzma-image.tar")
	if err := Write(out, tag, YzmaConfig(""), files); err != nil {
		t.Fatal(err)
	}
	return out
}

// entry is one file system entry of an image, from its layers.
type entry struct {
	typ  byte
	mode int64
	uid  int
	gid  int
	data string
	time time.Time
}

// imageEntries reads the image tagged tag from the archive as
// go-containerregistry reads it, checks it (digests, sizes, config) and
// returns its flattened file system by absolute path.
func imageEntries(t *testing.T, archive, tag string) (v1.Image, map[string]entry) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &ref)
	if err != nil {
		t.Fatalf("tarball.ImageFromPath(%s, %s): %v", archive, tag, err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image does not validate: %v", err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	readTar(t, rc, func(h *tar.Header, data []byte) {
		p := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		out[p] = entry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, data: string(data), time: h.ModTime}
	})
	return img, out
}

// readTar calls fn with each member of the tar stream r and its contents.
func readTar(t *testing.T, r io.Reader, fn func(h *tar.Header, data []byte)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h, data)
	}
}

func TestWriteYzmaImage(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	archive := writeYzma(t, "yzma:latest")
	img, entries := imageEntries(t, archive, "yzma:latest")

	want := map[string]struct {
		typ  byte
		mode int64
	}{
		"/etc": {tar.TypeDir, 0o755}, "/etc/passwd": {tar.TypeReg, 0o644}, "/etc/group": {tar.TypeReg, 0o644},
		"/manager": {tar.TypeReg, 0o755}, "/node": {tar.TypeReg, 0o755}, "/yzmactl": {tar.TypeReg, 0o755},
	}
	for p, e := range entries {
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("unexpected %s in the image", p)
		case e.typ != w.typ || e.mode != w.mode:
			t.Errorf("%s: type %c mode %o, want %c %o", p, e.typ, e.mode, w.typ, w.mode)
		case e.uid != 0 || e.gid != 0:
			t.Errorf("%s: owned by %d:%d, want 0:0", p, e.uid, e.gid)
		case !e.time.Equal(time.Unix(0, 0)):
			t.Errorf("%s: mtime %s, want the epoch", p, e.time)
		}
	}
	for p := range want {
		if _, ok := entries[p]; !ok {
			t.Errorf("%s missing from the image", p)
		}
	}
	if got := entries["/node"].data; got != "binary node\n" {
		t.Errorf("/node holds %q", got)
	}
	if !strings.Contains(entries["/etc/passwd"].data, "nonroot:x:65532:65532:") ||
		!strings.Contains(entries["/etc/group"].data, "nonroot:x:65532:") {
		t.Errorf("no nonroot user 65532:\n%s%s", entries["/etc/passwd"].data, entries["/etc/group"].data)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/manager"}) || len(c.Cmd) != 0 ||
		c.WorkingDir != "/" || !slices.Equal(c.Env, Env) {
		t.Errorf("config: user %q entrypoint %q cmd %q workdir %q env %q", c.User, c.Entrypoint, c.Cmd, c.WorkingDir, c.Env)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created %s, want the epoch", cf.Created.Time)
	}
	if layers, _ := img.Layers(); len(layers) != 1 {
		t.Errorf("%d layers, want 1", len(layers))
	}
}

// TestDockerLoadFormat checks the archive's own layout, as docker load and
// kind load image-archive read it: manifest.json naming the config, the
// tag and the layers, each present in the archive.
func TestDockerLoadFormat(t *testing.T) {
	archive := writeYzma(t, "registry.example:5000/team/yzma:v1")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	members := map[string][]byte{}
	readTar(t, f, func(h *tar.Header, data []byte) { members[h.Name] = data })
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(members["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, members["manifest.json"])
	}
	if len(manifest) != 1 {
		t.Fatalf("manifest.json has %d images, want 1", len(manifest))
	}
	m := manifest[0]
	if !slices.Equal(m.RepoTags, []string{"registry.example:5000/team/yzma:v1"}) {
		t.Errorf("RepoTags %q", m.RepoTags)
	}
	for _, p := range append([]string{m.Config}, m.Layers...) {
		if _, ok := members[p]; !ok {
			t.Errorf("manifest.json names %s, not in the archive", p)
		}
	}
	if len(m.Layers) != 1 || !bytes.HasPrefix(members[m.Layers[0]], []byte{0x1f, 0x8b}) {
		t.Errorf("layers %q: want one gzipped layer", m.Layers)
	}
	tags, err := Tags(archive)
	if err != nil || !slices.Equal(tags, m.RepoTags) {
		t.Errorf("Tags = %q, %v", tags, err)
	}
}

// TestReproducible: the same files give the same image, byte for byte,
// whatever the tag; SOURCE_DATE_EPOCH sets every timestamp.
func TestReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	files, err := YzmaFiles(fakeBinaries(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	digest := func(name, tag string) (v1.Hash, []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := Write(p, tag, YzmaConfig("amd64"), files); err != nil {
			t.Fatal(err)
		}
		ref := name2tag(t, tag)
		img, err := tarball.ImageFromPath(p, &ref)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return d, data
	}
	d1, a1 := digest("a.tar", "yzma:latest")
	d2, a2 := digest("b.tar", "yzma:latest")
	d3, _ := digest("c.tar", "yzma:e2e")
	if d1 != d2 || !bytes.Equal(a1, a2) {
		t.Errorf("two builds differ: %s, %s", d1, d2)
	}
	if d1 != d3 {
		t.Errorf("the tag changed the image: %s, %s", d1, d3)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	d4, _ := digest("d.tar", "yzma:latest")
	if d4 == d1 {
		t.Errorf("SOURCE_DATE_EPOCH did not change the image")
	}
	img, entries := imageEntries(t, filepath.Join(dir, "d.tar"), "yzma:latest")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := time.Unix(1700000000, 0)
	if !cf.Created.Time.Equal(want) || !entries["/node"].time.Equal(want) {
		t.Errorf("created %s, /node mtime %s; want %s", cf.Created.Time, entries["/node"].time, want)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "soon")
	if err := Write(filepath.Join(dir, "e.tar"), "yzma:latest", YzmaConfig(""), files); err == nil {
		t.Errorf("a bad SOURCE_DATE_EPOCH was accepted")
	}
}

func name2tag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		tag   string
		files []File
	}{
		{"bad tag", "Not A Tag", []File{{Path: "/a", Mode: 0o644}}},
		{"relative path", "x:y", []File{{Path: "a", Mode: 0o644}}},
		{"unclean path", "x:y", []File{{Path: "/a/../b", Mode: 0o644}}},
		{"twice", "x:y", []File{{Path: "/a", Mode: 0o644}, {Path: "/a", Mode: 0o755}}},
		{"missing source", "x:y", []File{{Path: "/a", Mode: 0o755, Source: filepath.Join(dir, "nothing")}}},
	} {
		out := filepath.Join(dir, "out.tar")
		if err := Write(out, tc.tag, Config{}, tc.files); err == nil {
			t.Errorf("%s: written", tc.name)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: left %s (%v)", tc.name, out, err)
		}
	}
	if _, err := YzmaFiles(dir); err == nil {
		t.Errorf("YzmaFiles without binaries: no error")
	}
}
