package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecPath(t *testing.T) {
	root, vol := t.TempDir(), t.TempDir() // the image's root, a volume
	if err := os.WriteFile(filepath.Join(root, "yzmactl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "notes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var paths pathMap
	paths.add("/data", vol)
	const path = "/usr/local/bin:/usr/bin:/bin"
	for _, tc := range []struct{ name, root, want string }{
		{"/yzmactl", root, filepath.Join(root, "yzmactl")}, // a file of the image
		{"/yzmactl", "", ""},         // the host is the image: no such file
		{"/bin/sh", root, "/bin/sh"}, // not in the image: the host's
		{"/notes", root, ""},         // in the image but not executable, nor on the host
		{"/data/run.sh", root, filepath.Join(vol, "run.sh")},
		{"./run.sh", root, "./run.sh"}, // from the working directory
		{"no-such-command", root, ""},
	} {
		got, err := execPath(tc.name, tc.root, paths, path)
		if tc.want == "" {
			if err == nil {
				t.Errorf("execPath(%q, %q) = %q, want an error", tc.name, tc.root, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("execPath(%q, %q) = %q, %v; want %q", tc.name, tc.root, got, err, tc.want)
		}
	}
	// A bare name is looked up in the container's PATH.
	if got, err := execPath("sh", root, paths, path); err != nil || !strings.HasSuffix(got, "/sh") {
		t.Errorf("execPath(sh) = %q, %v", got, err)
	}
	if got, err := execPath("yzmactl", root, paths, "/data:"+path); err == nil {
		t.Errorf("execPath(yzmactl) with /data in PATH = %q: found a file not there", got)
	}
}
