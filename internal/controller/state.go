package controller

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// pass is what one reconcile pass knows about the cluster. Every step
// (see steps in yzmacluster_controller.go) reads and fills it.
type pass struct {
	c             *yzmav1.YzmaCluster
	clusterDomain string                 // the Reconciler's, for the pods' DNS names
	secrets       nodeSecrets            // the Secrets the pods mount (secrets.go)
	sts           *appsv1.StatefulSet    // nil before it exists (observe.go)
	pods          map[string]*corev1.Pod // the node pods by name (observe.go)
	// replicas is the StatefulSet's replica count the scale-down step
	// chose (scaledown.go), applied by statefulset.go.
	replicas int32
	// partition is the StatefulSet's rolling-update partition the rollout
	// step chose (rollout.go), applied by statefulset.go.
	partition int32
	// image is the node image the StatefulSet was applied with this pass
	// (statefulset.go); empty until then. The status records it.
	image   string
	requeue time.Duration // the soonest the pass wants to run again
}

// wantRequeue asks for another pass within d.
func (p *pass) wantRequeue(d time.Duration) {
	if p.requeue == 0 || d < p.requeue {
		p.requeue = d
	}
}

// target addresses pod name of the cluster: with the auth Secret's first
// rw token, and with TLS the CA and the pod's DNS name its certificate
// must hold.
func (p *pass) target(name string) Target {
	t := Target{Namespace: p.c.Namespace, Pod: name, Port: httpPort(p.c), Token: p.secrets.token()}
	if ca := p.secrets.caPEM(); ca != nil {
		t.CA, t.ServerName = ca, podDNSName(p.c, name, p.clusterDomain)
	}
	if pod := p.pods[name]; pod != nil {
		t.IP = pod.Status.PodIP
	}
	return t
}
