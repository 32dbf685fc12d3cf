// Building the node binary from the Yzma checkout the cluster runs from.

package localcluster

import (
	"context"
	"fmt"
	"os/exec"
)

// BuildNode builds the node binary from the module at root (./cmd/node)
// into out.
func BuildNode(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/node")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/node: %w: %s", err, b)
	}
	return nil
}
