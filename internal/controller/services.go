package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// headlessService lists every node pod, ready or not, under one DNS name:
// the nodes resolve it for gossip seeds, and a starting node must find its
// peers before it is ready.
func headlessService(c *yzmav1.YzmaCluster) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(c, headlessName(c), "peers"),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 selectorLabels(c),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: httpPort(c), TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "gossip-tcp", Port: gossipPort(c), TargetPort: intstr.FromString("gossip-tcp"), Protocol: corev1.ProtocolTCP},
				{Name: "gossip-udp", Port: gossipPort(c), TargetPort: intstr.FromString("gossip-udp"), Protocol: corev1.ProtocolUDP},
			},
		},
	}
}

// clientService is what clients use: the HTTP API of the ready nodes.
func clientService(c *yzmav1.YzmaCluster) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(c, clientName(c), "api"),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(c),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: httpPort(c), TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// childMeta is the metadata of a child object of c; the owner reference is
// added when the object is applied.
func childMeta(c *yzmav1.YzmaCluster, name, component string) metav1.ObjectMeta {
	l := commonLabels(c)
	l[labelComponent] = component
	return metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: l}
}

// reconcileServices applies both Services.
func (r *Reconciler) reconcileServices(ctx context.Context, p *pass) error {
	if err := r.apply(ctx, p.c, headlessService(p.c)); err != nil {
		return err
	}
	return r.apply(ctx, p.c, clientService(p.c))
}
