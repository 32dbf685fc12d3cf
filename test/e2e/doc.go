// Package e2e holds the end-to-end tests of Yzma on Kubernetes, written
// with sigs.k8s.io/e2e-framework: a user's whole journey with the
// operator (apply the sample, reach it over HTTPS with the CA and token
// of the operator's Secrets, write, scale up, scale down with leave before
// shrink, kill a node, kill the operator mid scale-down, roll, rotate the
// credentials, delete).
//
// The same tests run on two kinds of cluster, chosen by E2E_CLUSTER:
//
//	local (default)  internal/localcluster: real etcd, kube-apiserver and
//	                 kube-controller-manager, node pods as local processes;
//	                 the operator runs as a process with a kubeconfig and
//	                 reaches pods at their IPs (the API server does not
//	                 proxy to loopback addresses).
//	kind             a kind cluster (needs Docker and kind): the image
//	                 archive (make image, E2E_IMAGE_ARCHIVE; else built by
//	                 the test) is loaded with kind load image-archive and
//	                 deployed with kustomize (make test-e2e-kind).
//
// Both run the same image, built without Docker by internal/image: the
// local cluster's kubelet runs the node pods from the archive, and the
// operator is the archive's /manager.
package e2e
