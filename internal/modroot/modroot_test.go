package modroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	root, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "modroot", "modroot.go")); err != nil {
		t.Errorf("root %s does not hold this package: %v", root, err)
	}
	t.Chdir(t.TempDir())
	if _, err := Find(); err == nil {
		t.Error("found a module root outside the module")
	}
}
