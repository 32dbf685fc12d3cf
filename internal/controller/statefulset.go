package controller

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// nodeUID is the non-root user the node runs as (distroless "nonroot").
const nodeUID = 65532

// podSettings are the inputs of a node pod that come from the manager and
// the Secrets rather than from the spec.
type podSettings struct {
	Image         string // the node image, chosen by nodeImage
	ClusterDomain string // e.g. cluster.local
	ConfigHash    string // of the mounted Secrets
	// TLSSecret is mounted at tlsDir, and the nodes serve HTTPS with it;
	// empty: TLS is off (plain HTTP).
	TLSSecret string
	// AuthSecret is mounted at authDir, and the nodes require its tokens;
	// empty: auth is off (an open API).
	AuthSecret string
}

// secretMode is the mode of the Secrets' files: read-only, for the owner
// (root) and the group, which is the pod's fsGroup, the node's group.
const secretMode = 0o440

// leaveGracePeriod is the node pods' termination grace period: longer than
// the node's leave timeout (60 s, node/cluster), so that a pod deleted
// while it hands its data off is not killed in the middle of it.
const leaveGracePeriod = 90

// statefulSet builds the node StatefulSet with the given replica count
// (the scale-down state machine decides it, not the spec alone) and
// rolling-update partition (the rollout step decides it: pods at or above
// it may move to the current template, those below stay).
func statefulSet(c *yzmav1.YzmaCluster, replicas, partition int32, s podSettings) *appsv1.StatefulSet {
	meta := childMeta(c, stsName(c), "nodes")
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: headlessName(c),
			Selector:    &metav1.LabelSelector{MatchLabels: selectorLabels(c)},
			// One pod at a time: a new node finds the ready ones through
			// the headless Service and catches up before the next starts.
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(partition)},
			},
			// The StatefulSet controller applies the volume policies, and
			// only once a pod is gone: a scale-down reaches it only after
			// the node handed its data off.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenScaled:  retention(c.Spec.Persistence.ScaleDownPolicy, yzmav1.PVCDelete),
				WhenDeleted: retention(c.Spec.Persistence.DeletePolicy, yzmav1.PVCRetain),
			},
			Template:             podTemplate(c, s),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{volumeClaim(c)},
		},
	}
}

func retention(p, def yzmav1.PVCPolicy) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p == "" {
		p = def
	}
	if p == yzmav1.PVCDelete {
		return appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

func volumeClaim(c *yzmav1.YzmaCluster) corev1.PersistentVolumeClaim {
	size := c.Spec.Storage.Size
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	return corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: selectorLabels(c)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: c.Spec.Storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

func podTemplate(c *yzmav1.YzmaCluster, s podSettings) corev1.PodTemplateSpec {
	pt := c.Spec.PodTemplate
	labels := maps.Clone(pt.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, commonLabels(c))
	annotations := maps.Clone(pt.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[annotationConfigHash] = s.ConfigHash
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers:                []corev1.Container{nodeContainer(c, s)},
			Affinity:                  podAffinity(c),
			Tolerations:               pt.Tolerations,
			NodeSelector:              pt.NodeSelector,
			TopologySpreadConstraints: pt.TopologySpreadConstraints,
			PriorityClassName:         pt.PriorityClassName,
			ServiceAccountName:        pt.ServiceAccountName,
			ImagePullSecrets:          pt.ImagePullSecrets,
			// The node finishes requests in flight on SIGTERM; a leave
			// has already happened before a scale-down deletes a pod.
			TerminationGracePeriodSeconds: ptr.To[int64](leaveGracePeriod),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](nodeUID),
				RunAsGroup:     ptr.To[int64](nodeUID),
				FSGroup:        ptr.To[int64](nodeUID),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: podVolumes(c, s),
		},
	}
}

// podAffinity is the user's affinity; with neither an affinity nor
// topology spread constraints in the pod template, it is a preferred pod
// anti-affinity on the Kubernetes node for the cluster's own pods: the
// scheduler spreads the nodes when it can and still places them all on a
// one-node cluster. Whatever the user sets replaces this default.
func podAffinity(c *yzmav1.YzmaCluster) *corev1.Affinity {
	pt := c.Spec.PodTemplate
	if pt.Affinity != nil || len(pt.TopologySpreadConstraints) > 0 {
		return pt.Affinity
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(c)},
				TopologyKey:   corev1.LabelHostname,
			},
		}},
	}}
}

// reservedVolumes are the operator's volume names; podTemplate.volumes'
// CEL rule lists the same.
var reservedVolumes = []string{dataVolume, tmpVolume, tlsVolume, authVolume}

// reservedDirs are the operator's mount points, which no user mount may
// take or go under; podTemplate.volumeMounts' CEL rule lists the same (and
// /tmp, which a mount may not take but may go under).
var reservedDirs = []string{dataDir, tlsDir, authDir}

// podVolumes are the operator's volumes (the claim template adds "data";
// the TLS and auth Secrets when they are on), then the user's extra ones;
// the CRD rejects an extra volume that takes an operator's name, and the
// builder skips one should it get through.
func podVolumes(c *yzmav1.YzmaCluster, s podSettings) []corev1.Volume {
	vols := []corev1.Volume{{
		Name:         tmpVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
	}}
	secret := func(volume, name string) {
		if name != "" {
			vols = append(vols, corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: name, DefaultMode: ptr.To[int32](secretMode)},
			}})
		}
	}
	secret(tlsVolume, s.TLSSecret)
	secret(authVolume, s.AuthSecret)
	for _, v := range c.Spec.PodTemplate.Volumes {
		if !slices.Contains(reservedVolumes, v.Name) {
			vols = append(vols, corev1.Volume{Name: v.Name, VolumeSource: *v.VolumeSource.DeepCopy()})
		}
	}
	return vols
}

// nodeVolumeMounts are the operator's mounts, then the user's extra ones
// (the CRD rejects those at the operator's directories or /tmp; skipped
// here too).
func nodeVolumeMounts(c *yzmav1.YzmaCluster, s podSettings) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{
		{Name: dataVolume, MountPath: dataDir},
		{Name: tmpVolume, MountPath: "/tmp"},
	}
	if s.TLSSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: tlsVolume, MountPath: tlsDir, ReadOnly: true})
	}
	if s.AuthSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: authVolume, MountPath: authDir, ReadOnly: true})
	}
	for _, m := range c.Spec.PodTemplate.VolumeMounts {
		p := path.Clean(m.MountPath)
		reserved := p == "/tmp" || slices.ContainsFunc(reservedDirs, func(d string) bool {
			return p == d || strings.HasPrefix(p, d+"/")
		})
		if !reserved {
			mounts = append(mounts, m)
		}
	}
	return mounts
}

func nodeContainer(c *yzmav1.YzmaCluster, s podSettings) corev1.Container {
	pull := c.Spec.ImagePullPolicy
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	// The kubelet probes HTTPS without verifying the certificate, and
	// /readyz and /healthz need no token.
	scheme := corev1.URISchemeHTTP
	if s.TLSSecret != "" {
		scheme = corev1.URISchemeHTTPS
	}
	return corev1.Container{
		Name:            "node",
		Image:           s.Image,
		ImagePullPolicy: pull,
		Command:         []string{nodeBinary},
		Env:             nodeEnv(c, s),
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: httpPort(c), Protocol: corev1.ProtocolTCP},
			{Name: "gossip-tcp", ContainerPort: gossipPort(c), Protocol: corev1.ProtocolTCP},
			{Name: "gossip-udp", ContainerPort: gossipPort(c), Protocol: corev1.ProtocolUDP},
		},
		Resources: c.Spec.Resources,
		// Ready only once caught up after joining; /readyz says so.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http"), Scheme: scheme}},
			PeriodSeconds:    2,
			FailureThreshold: 3,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: scheme}},
			PeriodSeconds:    10,
			TimeoutSeconds:   5,
			FailureThreshold: 6,
		},
		VolumeMounts: nodeVolumeMounts(c, s),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// nodeEnv configures the node through its YZMA_* variables (see package
// node/config): the member name is the pod name, the seeds are the headless
// Service's DNS records, and the data file lives on the claim. With TLS,
// the node serves the mounted certificate, trusts the mounted CA and
// advertises its pod DNS name (podDNSName), which its certificate holds,
// for peers to verify; with auth, it reads the mounted tokens and keys
// (and reloads them when the files change).
func nodeEnv(c *yzmav1.YzmaCluster, s podSettings) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_IP", "status.podIP"),
		{Name: "YZMA_PEERING_NAME", Value: "$(POD_NAME)"},
		{Name: "YZMA_PEERING_ADVERTISE_ADDRESS", Value: "$(POD_IP)"},
		{Name: "YZMA_PEERING_BIND_PORT", Value: strconv.Itoa(int(gossipPort(c)))},
		{Name: "YZMA_PEERING_SEED_DNS", Value: fmt.Sprintf("%s.$(POD_NAMESPACE).svc.%s", headlessName(c), s.ClusterDomain)},
		{Name: "YZMA_API_BIND", Value: ":" + strconv.Itoa(int(httpPort(c)))},
		{Name: "YZMA_DB_PATH", Value: dataDir + "/yzma.db"},
	}
	if s.TLSSecret != "" {
		env = append(env,
			corev1.EnvVar{Name: "YZMA_TLS_CERT_FILE", Value: tlsDir + "/" + tlsCertKey},
			corev1.EnvVar{Name: "YZMA_TLS_KEY_FILE", Value: tlsDir + "/" + tlsKeyKey},
			corev1.EnvVar{Name: "YZMA_TLS_CA_FILE", Value: tlsDir + "/" + caCertKey},
			// podDNSName with the pod's own name and namespace.
			corev1.EnvVar{Name: "YZMA_API_ADVERTISE_NAME", Value: fmt.Sprintf("$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s", headlessName(c), s.ClusterDomain)},
		)
	}
	if s.AuthSecret != "" {
		env = append(env,
			corev1.EnvVar{Name: "YZMA_AUTH_TOKEN_FILE", Value: authDir + "/" + authTokensKey},
			corev1.EnvVar{Name: "YZMA_PEER_TOKEN_FILE", Value: authDir + "/" + authPeerTokensKey},
			corev1.EnvVar{Name: "YZMA_GOSSIP_KEY_FILE", Value: authDir + "/" + authGossipKeysKey},
		)
	}
	// The user's extra variables come after; the CRD rejects the names
	// above (reservedEnv), and the builder skips them should one get
	// through, so the operator's values always hold.
	for _, e := range c.Spec.PodTemplate.Env {
		if !slices.Contains(reservedEnv, e.Name) {
			env = append(env, *e.DeepCopy())
		}
	}
	return env
}

// reservedEnv are the variables nodeEnv sets, with TLS and auth on;
// podTemplate.env's CEL rule lists the same names (a test compares them
// with the generated CRD). They stay reserved with TLS or auth off.
var reservedEnv = []string{
	"POD_NAME", "POD_NAMESPACE", "POD_IP",
	"YZMA_PEERING_NAME", "YZMA_PEERING_ADVERTISE_ADDRESS", "YZMA_PEERING_BIND_PORT", "YZMA_PEERING_SEED_DNS",
	"YZMA_API_BIND", "YZMA_DB_PATH",
	"YZMA_TLS_CERT_FILE", "YZMA_TLS_KEY_FILE", "YZMA_TLS_CA_FILE", "YZMA_API_ADVERTISE_NAME",
	"YZMA_AUTH_TOKEN_FILE", "YZMA_PEER_TOKEN_FILE", "YZMA_GOSSIP_KEY_FILE",
}

// nodeImage chooses the node image: spec.image if set; else, with the
// follow annotation, the operator's default; else the image recorded in
// status.image; else the image the existing StatefulSet runs (a cluster
// created before status.image existed); else the operator's default (the
// first reconcile). So an operator upgrade that changes its default does
// not restart the clusters that name no image, unless they opt in.
func nodeImage(c *yzmav1.YzmaCluster, sts *appsv1.StatefulSet, defaultImage string) string {
	switch {
	case c.Spec.Image != "":
		return c.Spec.Image
	case c.Annotations[yzmav1.AnnotationFollowOperatorImage] == "true":
		return defaultImage
	case c.Status.Image != "":
		return c.Status.Image
	}
	if sts != nil {
		for _, ctr := range sts.Spec.Template.Spec.Containers {
			if ctr.Name == "node" && ctr.Image != "" {
				return ctr.Image
			}
		}
	}
	return defaultImage
}

// reconcileStatefulSet applies the StatefulSet with the replica count the
// scale-down step chose and the image nodeImage chose, which the status
// then records. The claim templates of an existing StatefulSet are
// immutable, so they are kept as they are.
func (r *Reconciler) reconcileStatefulSet(ctx context.Context, p *pass) error {
	image := nodeImage(p.c, p.sts, r.DefaultImage)
	sts := statefulSet(p.c, p.replicas, p.partition, podSettings{
		Image: image, ClusterDomain: r.ClusterDomain, ConfigHash: p.secrets.hash(),
		TLSSecret: p.secrets.TLS.name(), AuthSecret: p.secrets.Auth.name(),
	})
	if p.sts != nil {
		sts.Spec.VolumeClaimTemplates = p.sts.Spec.VolumeClaimTemplates
	}
	if err := r.apply(ctx, p.c, sts); err != nil {
		return err
	}
	p.image = image
	return nil
}
