package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/node/httpapi"
)

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %q: %v", b, err)
	}
	return r
}

// TestBackupAndRestore: a backup to a file (with its report) restores
// into an empty node, through a file or stdin; a wrong checksum or a node
// with data is refused.
func TestBackupAndRestore(t *testing.T) {
	src := newCtl(t, httpapi.Options{})
	src.ok("v1", "put", "a")
	src.ok("v2", "put", "b")
	dir := t.TempDir()
	file, rep := filepath.Join(dir, "x.yzb"), filepath.Join(dir, "backup.json")
	src.ok("", "backup", "--out", file, "--report", rep)
	br := readReport(t, rep)
	fi, err := os.Stat(file)
	if err != nil || br.File != file || br.Size != fi.Size() || br.Keys != 2 || len(br.SHA256) != 64 || br.Node == "" {
		t.Fatalf("report %+v for %v (%v)", br, fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}

	dst := newCtl(t, httpapi.Options{})
	if r := dst.run("", "restore", "--in", file, "--sha256", strings.Repeat("0", 64)); r.code != exitError || !strings.Contains(r.stderr, "sha256") {
		t.Fatalf("restore with a wrong checksum: %+v", r)
	}
	if r := dst.run("", "get", "a"); r.code != exitNotFound {
		t.Fatalf("a refused restore wrote data: %+v", r)
	}
	rr := filepath.Join(dir, "restore.json")
	out := dst.ok("", "restore", "--in", file, "--sha256", br.SHA256, "--report", rr)
	if !strings.Contains(out, "restored 2 keys") {
		t.Fatalf("restore said %q", out)
	}
	if got := readReport(t, rr); got.Keys != 2 || got.SHA256 != br.SHA256 || got.From != br.Node || got.Node == br.Node {
		t.Fatalf("restore report %+v after backup %+v", got, br)
	}
	if got := dst.ok("", "get", "b"); got != "v2" {
		t.Fatalf("b = %q after restore", got)
	}
	if r := dst.run("", "restore", "--in", file); r.code != exitError || !strings.Contains(r.stderr, "empty node") {
		t.Fatalf("restore into a node with data: %+v", r)
	}

	// Through stdout and stdin.
	data := src.ok("", "backup")
	third := newCtl(t, httpapi.Options{})
	third.ok(data, "restore")
	if got := third.ok("", "get", "a"); got != "v1" {
		t.Fatalf("a = %q after a restore from stdin", got)
	}
}

// TestBackupKeep: --keep deletes all but the newest matching files,
// never others.
func TestBackupKeep(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	c.ok("v", "put", "a")
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for i, name := range []string{"daily-1.yzb", "daily-2.yzb", "daily-3.yzb", "other.yzb"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	c.ok("", "backup", "--out", filepath.Join(dir, "daily-4.yzb"), "--keep", "2", "--keep-glob", "daily-*.yzb")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"daily-3.yzb", "daily-4.yzb", "other.yzb"}; !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	if r := c.run("", "backup", "--keep", "2"); r.code != exitError {
		t.Fatalf("--keep without --keep-glob: %+v", r)
	}
}
