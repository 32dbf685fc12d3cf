// Command image builds Yzma's image without Docker (see package
// internal/image): the node, the manager and yzmactl, static, on an empty
// base, written as a docker-save style archive.
//
//	go run ./hack/image [-o bin/yzma-image.tar] [-tag yzma:latest] [-arch amd64]
//
// Then `docker load -i bin/yzma-image.tar`, or `kind load image-archive
// bin/yzma-image.tar`. $SOURCE_DATE_EPOCH, when set, is every timestamp in
// the image (else the Unix epoch): the same checkout gives the same image.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/yzma/yzma/internal/image"
)

func main() {
	root, err := modroot.Find()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	out := flag.String("o", filepath.Join(root, "bin", "yzma-image.tar"), "archive `path` to write")
	tag := flag.String("tag", image.DefaultTag, "image `tag`")
	arch := flag.String("arch", runtime.GOARCH, "target `architecture` (linux)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	if err := image.Build(ctx, image.Options{Root: root, Out: *out, Tag: *tag, Arch: *arch}); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	img, err := tarball.ImageFromPath(*out, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image: reading it back:", err)
		os.Exit(1)
	}
	digest, err := img.Digest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	id, err := img.ConfigName()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s linux/%s, id %s, digest %s (%s)\n", *out, *tag, *arch, id, digest, time.Since(began).Round(time.Millisecond))
	fmt.Printf("load it with: docker load -i %s   or   kind load image-archive %s\n", *out, *out)
}
