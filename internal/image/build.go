package image

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// BuildFlags are the go build flags of the binaries (with CGO_ENABLED=0);
// the Dockerfile's builder stage uses the same.
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w", "-buildvcs=false"}

// BuildBinaries builds Commands from the module at root into dir, static
// binaries for linux/arch (empty: the host's architecture).
func BuildBinaries(ctx context.Context, root, dir, arch string) error {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", dir+string(filepath.Separator))
	for _, c := range Commands {
		args = append(args, "./cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+cmp.Or(arch, runtime.GOARCH))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Options say what Build builds.
type Options struct {
	Root string // the module's root directory
	Out  string // the archive to write
	Tag  string // default DefaultTag
	Arch string // default the host's architecture
	// BinDir keeps the binaries; empty: a temporary directory, removed.
	BinDir string
}

// Build builds Yzma's binaries from the checkout at o.Root and writes the
// image archive o.Out.
func Build(ctx context.Context, o Options) error {
	arch := cmp.Or(o.Arch, runtime.GOARCH)
	binDir := o.BinDir
	if binDir == "" {
		d, err := os.MkdirTemp("", "yzma-image-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }() // build output only
		binDir = d
	}
	if err := BuildBinaries(ctx, o.Root, binDir, arch); err != nil {
		return err
	}
	files, err := YzmaFiles(binDir)
	if err != nil {
		return err
	}
	return Write(o.Out, cmp.Or(o.Tag, DefaultTag), YzmaConfig(arch), files)
}
