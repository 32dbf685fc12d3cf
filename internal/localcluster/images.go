package localcluster

import (
	"fmt"
	"os/exec"
	"strings"
)

// RunCommand, as an Options.ImageMap value, runs a container's command and
// args as given, the command looked up in the host's PATH (for images such
// as busybox whose commands exist on the host too).
const RunCommand = "@command"

// imageRepository strips the tag and digest from an image reference:
// "ghcr.io/yzma/yzma:v1@sha256:…" → "ghcr.io/yzma/yzma".
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// lookupImage finds the map entry for image: the full reference, then its
// repository, then the longest key that is a trailing path of the
// repository ("yzma" and "yzma/yzma" match "ghcr.io/yzma/yzma").
func lookupImage(m map[string]string, image string) (string, bool) {
	if v, ok := m[image]; ok {
		return v, true
	}
	repo := imageRepository(image)
	if v, ok := m[repo]; ok {
		return v, true
	}
	best, found := "", ""
	for k, v := range m {
		if strings.HasSuffix(repo, "/"+imageRepository(k)) && len(k) > len(best) {
			best, found = k, v
		}
	}
	return found, best != ""
}

// containerArgv is the program and arguments a container runs, before
// $(VAR) expansion and path rewriting.
func containerArgv(m map[string]string, image string, command, args []string) (string, []string, error) {
	bin, ok := lookupImage(m, image)
	if !ok {
		return "", nil, fmt.Errorf("image %q is not in the image map", image)
	}
	if bin != RunCommand {
		return bin, args, nil
	}
	argv := append(append([]string{}, command...), args...)
	if len(argv) == 0 {
		return "", nil, fmt.Errorf("image %q runs its command, but the container has none", image)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return "", nil, fmt.Errorf("image %q: %w", image, err)
	}
	return path, argv[1:], nil
}
