package controller

import (
	"fmt"
	"strconv"
	"strings"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// Label keys and values on every child object.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelComponent = "app.kubernetes.io/component"
	appName        = "yzma"
	managerName    = "yzma-operator"
)

// Defaults for fields the API server would default, so that objects stored
// before a default existed still reconcile.
const (
	defaultReplicas   = 3
	defaultHTTPPort   = 8080
	defaultGossipPort = 7946
	// DefaultImage is the node image when neither the spec nor the manager
	// names one.
	DefaultImage = "yzma:latest"
)

// Paths inside the node container.
const (
	dataVolume = "data"
	dataDir    = "/var/lib/yzma"
	tmpVolume  = "tmp"
	nodeBinary = "/node"
	// The TLS and auth Secrets' volumes and where they are mounted; the
	// files are named after the Secrets' keys (config.go).
	tlsVolume  = "yzma-tls"
	tlsDir     = "/etc/yzma/tls"
	authVolume = "yzma-auth"
	authDir    = "/etc/yzma/auth"
)

// selectorLabels select the node pods of c.
func selectorLabels(c *yzmav1.YzmaCluster) map[string]string {
	return map[string]string{labelName: appName, labelInstance: c.Name}
}

// commonLabels go on every child object of c.
func commonLabels(c *yzmav1.YzmaCluster) map[string]string {
	l := selectorLabels(c)
	l[labelManagedBy] = managerName
	return l
}

// selectorString is selectorLabels in label-selector syntax, for the scale
// subresource.
func selectorString(c *yzmav1.YzmaCluster) string {
	return fmt.Sprintf("%s=%s,%s=%s", labelInstance, c.Name, labelName, appName)
}

func headlessName(c *yzmav1.YzmaCluster) string { return c.Name + "-peers" }
func clientName(c *yzmav1.YzmaCluster) string   { return c.Name }
func stsName(c *yzmav1.YzmaCluster) string      { return c.Name }
func pdbName(c *yzmav1.YzmaCluster) string      { return c.Name }

// The Secrets the operator generates when the spec names none.
func authSecretName(c *yzmav1.YzmaCluster) string { return c.Name + "-auth" }
func caSecretName(c *yzmav1.YzmaCluster) string   { return c.Name + "-ca" }
func tlsSecretName(c *yzmav1.YzmaCluster) string  { return c.Name + "-tls" }

// podDNSName is the name of pod in the headless Service's domain: what
// the nodes advertise to each other for their certificates
// (YZMA_API_ADVERTISE_NAME) and what the operator verifies.
func podDNSName(c *yzmav1.YzmaCluster, pod, clusterDomain string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s", pod, headlessName(c), c.Namespace, clusterDomain)
}

// podName is the name of the StatefulSet pod with this ordinal.
func podName(c *yzmav1.YzmaCluster, ordinal int32) string {
	return fmt.Sprintf("%s-%d", stsName(c), ordinal)
}

// podOrdinal parses the ordinal of a StatefulSet pod of c; ok is false for
// other names.
func podOrdinal(c *yzmav1.YzmaCluster, name string) (int32, bool) {
	rest, ok := strings.CutPrefix(name, stsName(c)+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// replicas is the desired node count.
func replicas(c *yzmav1.YzmaCluster) int32 {
	if c.Spec.Replicas == nil {
		return defaultReplicas
	}
	return *c.Spec.Replicas
}

// tlsEnabled says whether the nodes serve HTTPS: spec.tls.enabled, true
// when unset (the API server's default, here for objects stored before it).
func tlsEnabled(c *yzmav1.YzmaCluster) bool {
	return c.Spec.TLS.Enabled == nil || *c.Spec.TLS.Enabled
}

// authEnabled says whether the nodes require credentials: spec.auth.enabled,
// true when unset.
func authEnabled(c *yzmav1.YzmaCluster) bool {
	return c.Spec.Auth.Enabled == nil || *c.Spec.Auth.Enabled
}

func httpPort(c *yzmav1.YzmaCluster) int32 {
	if c.Spec.Ports.HTTP == 0 {
		return defaultHTTPPort
	}
	return c.Spec.Ports.HTTP
}

func gossipPort(c *yzmav1.YzmaCluster) int32 {
	if c.Spec.Ports.Gossip == 0 {
		return defaultGossipPort
	}
	return c.Spec.Ports.Gossip
}
