// Package modroot finds the root of the Yzma module, for the commands under
// hack/ and the tests that need files of the checkout (bin/k8s, config/,
// the Dockerfile) whatever directory they run in.
package modroot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// Find returns the root of the github.com/yzma/yzma module, looking from
// the working directory upwards.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module github.com/yzma/yzma")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the github.com/yzma/yzma module")
		}
		dir = parent
	}
}
