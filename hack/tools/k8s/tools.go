//go:build tools

// Package tools pins the Kubernetes control-plane commands that the tests
// run (kube-apiserver for envtest; kube-controller-manager and kubectl for
// the local cluster). It is a separate module so that k8s.io/kubernetes and
// its replace lines never enter the project's go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
