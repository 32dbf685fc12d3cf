//go:build tools

// Package tools pins the etcd server that envtest and the local cluster run.
// It is a separate module because etcd's server module carries replace lines.
package tools

import _ "go.etcd.io/etcd/server/v3"
