package localcluster

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestImageKey(t *testing.T) {
	same := []string{"yzma", "yzma:latest", "docker.io/yzma", "docker.io/library/yzma:latest", "index.docker.io/library/yzma:latest"}
	want, err := imageKey(same[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range same[1:] {
		if got, err := imageKey(s); err != nil || got != want {
			t.Errorf("imageKey(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	for _, s := range []string{"yzma:v1", "ghcr.io/yzma/yzma:latest", "yzma@sha256:" + strings.Repeat("a", 64)} {
		if got, _ := imageKey(s); got == want {
			t.Errorf("imageKey(%q) = %q, the same as yzma:latest", s, got)
		}
	}
}

func TestImageArgv(t *testing.T) {
	cfg := v1.Config{Entrypoint: []string{"/ep", "-x"}, Cmd: []string{"c1", "c2"}}
	env := func(n string) (string, bool) { return map[string]string{"V": "v"}[n], n == "V" }
	for _, tc := range []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"/ep", "-x", "c1", "c2"}},
		{nil, []string{"a", "$(V)"}, []string{"/ep", "-x", "a", "v"}},
		{[]string{"/cmd", "$(V)"}, nil, []string{"/cmd", "v"}},
		{[]string{"/cmd"}, []string{"a"}, []string{"/cmd", "a"}},
	} {
		if got := imageArgv(cfg, tc.command, tc.args, env); !slices.Equal(got, tc.want) {
			t.Errorf("command %q args %q: %q, want %q", tc.command, tc.args, got, tc.want)
		}
	}
	if got := imageArgv(v1.Config{}, nil, nil, env); len(got) != 0 {
		t.Errorf("no entrypoint, no command: %q", got)
	}
}

// tarOf makes a tar stream of the given entries.
func tarOf(t *testing.T, entries ...tar.Header) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		data := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
			data = []byte(h.Name)
		} else {
			data = nil
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	err := extractTar(tarOf(t,
		tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "bin/tool", Typeflag: tar.TypeReg, Mode: 0o755},
		tar.Header{Name: "usr/lib/x", Typeflag: tar.TypeReg, Mode: 0o600}, // parents made
		tar.Header{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: "usr/lib"},
		tar.Header{Name: "sbin/tool", Typeflag: tar.TypeLink, Linkname: "/bin/tool"},
		tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}, // skipped
		tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666}, // skipped
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin", "tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool: %v, %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib", "x")); err != nil || string(b) != "usr/lib/x" {
		t.Errorf("lib/x through the symlink: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sbin", "tool")); err != nil || string(b) != "bin/tool" {
		t.Errorf("sbin/tool (hard link): %q, %v", b, err)
	}
	for _, p := range []string{filepath.Join(filepath.Dir(dir), "escape"), filepath.Join(dir, "dev", "null")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was written: %v", p, err)
		}
	}

	// A symlink out of the root cannot be written through.
	outside := t.TempDir()
	err = extractTar(tarOf(t,
		tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: outside},
		tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
	), t.TempDir())
	if err == nil {
		t.Errorf("writing through a symlink to %s: no error", outside)
	}
	if _, err := os.Stat(filepath.Join(outside, "passwd")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was written outside the root: %v", err)
	}
}

func TestResolveInAndExecPath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mk := func(p string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("usr/bin/tool", 0o755)
	mk("usr/bin/data", 0o644)
	mk("work/run.sh", 0o755)
	link("usr/bin", "bin")         // relative
	link("/usr/bin/tool", "abs")   // absolute: from the root, not the host
	link("../../../../etc", "esc") // ".." stops at the root
	if err := os.WriteFile(filepath.Join(outside, "tool"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	link(outside, "out")

	tool := filepath.Join(root, "usr", "bin", "tool")
	for p, want := range map[string]string{
		"/bin/tool": tool, "/abs": tool, "/usr/../bin/./tool": tool, "/../../bin/tool": tool,
		"/esc": filepath.Join(root, "etc"), "/out/tool": filepath.Join(root, outside, "tool"),
	} {
		got, err := resolveIn(root, p)
		if p == "/esc" || p == "/out/tool" {
			// The target does not exist inside the root: an error, never
			// the host's file.
			if err == nil && got != want {
				t.Errorf("resolveIn(%s) = %s", p, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("resolveIn(%s) = %q, %v; want %q", p, got, err, want)
		}
	}

	var paths pathMap
	paths.add("/vol", outside)
	env := []string{"PATH=/nothing:/bin"}
	for _, tc := range []struct {
		argv0, dir, want string
	}{
		{"tool", root, tool},      // PATH in the image
		{"/bin/tool", root, tool}, // absolute, through a symlink
		{"./run.sh", filepath.Join(root, "work"), filepath.Join(root, "work", "run.sh")}, // relative to the working directory
		{"/vol/tool", root, filepath.Join(outside, "tool")},                              // a volume's file
		{"./x", outside, "./x"}, // working directory on a volume: the host's
	} {
		got, err := imageExecPath(tc.argv0, env, tc.dir, root, paths)
		if err != nil || got != tc.want {
			t.Errorf("imageExecPath(%s in %s) = %q, %v; want %q", tc.argv0, tc.dir, got, err, tc.want)
		}
	}
	for _, argv0 := range []string{"missing", "/usr/bin/data", "/usr/bin", "/out/tool", "sh"} {
		if got, err := imageExecPath(argv0, env, root, root, paths); err == nil {
			t.Errorf("imageExecPath(%s) = %q, want an error", argv0, got)
		}
	}
	// Without an image root: only the mounts map it (the host's PATH
	// finds it later).
	if got, err := imageExecPath("/vol/tool", env, root, "", paths); err != nil || got != filepath.Join(outside, "tool") {
		t.Errorf("host imageExecPath = %q, %v", got, err)
	}
}
