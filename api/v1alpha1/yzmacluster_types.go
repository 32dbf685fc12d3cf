package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// YzmaClusterSpec is the desired state of a Yzma cluster.
//
// +kubebuilder:validation:XValidation:rule="has(self.restoreFrom) == has(oldSelf.restoreFrom) && (!has(self.restoreFrom) || self.restoreFrom == oldSelf.restoreFrom)",message="restoreFrom can only be set when the cluster is created, and never changed"
type YzmaClusterSpec struct {
	// Replicas is the number of nodes. Lowering it makes each leaving node
	// hand its data off (POST /cluster/leave) before its pod is removed,
	// one node at a time, highest ordinal first.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Image of the Yzma node. Unset, the cluster runs the operator's node
	// image as it was when the cluster was created, recorded in
	// status.image: a later operator with another default does not restart
	// the cluster. The annotation yzma.io/follow-operator-image: "true" on
	// the YzmaCluster makes it follow the operator's current default instead.
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the node container.
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Resources of the node container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Storage of each node's data file.
	// +kubebuilder:default={size: "1Gi"}
	// +optional
	Storage Storage `json:"storage,omitempty"`

	// Persistence says what happens to the nodes' volumes.
	// +kubebuilder:default={}
	// +optional
	Persistence Persistence `json:"persistence,omitempty"`

	// Ports the nodes listen on.
	// +kubebuilder:default={}
	// +optional
	Ports Ports `json:"ports,omitempty"`

	// TLS of the nodes' HTTP API and of their calls to each other. On by
	// default: the operator generates a CA and a certificate for the
	// cluster's Services and pods, or mounts spec.tls.secretName.
	// +kubebuilder:default={}
	// +optional
	TLS TLS `json:"tls,omitempty"`

	// Auth of the nodes' HTTP API (bearer tokens), of the nodes to each
	// other (peer tokens) and of gossip (encryption keys). On by default:
	// the operator generates the Secret "<name>-auth", or mounts
	// spec.auth.secretName.
	// +kubebuilder:default={}
	// +optional
	Auth Auth `json:"auth,omitempty"`

	// PodTemplate adds scheduling and metadata settings to the node pods.
	// +optional
	PodTemplate PodTemplate `json:"podTemplate,omitempty"`

	// RestoreFrom fills the new cluster from a backup: once its first node
	// (pod 0) is ready, a Job "<name>-restore" uploads the backup's file
	// into it, and the other nodes catch up from it. The Restored condition
	// follows it. Set only at creation; write to the cluster only once
	// Restored is True, since the restore needs an empty node.
	// +optional
	RestoreFrom *RestoreFrom `json:"restoreFrom,omitempty"`
}

// RestoreFrom names the backup a new cluster starts from.
type RestoreFrom struct {
	// Backup names a one-shot YzmaBackup of this namespace; the restore
	// waits until it has Succeeded. Its target claim is mounted by the
	// restore Job, so it must be mountable there (ReadWriteOnce claims:
	// not by a backup Job at the same time).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Backup string `json:"backup"`
}

// TLS configures the nodes' certificates. The Secret in use (generated or
// the user's) is mounted read-only at /etc/yzma/tls in the node pods; a
// change of its tls.crt, tls.key or ca.crt rolls the pods.
type TLS struct {
	// Enabled serves the HTTP API over HTTPS, and makes the nodes present
	// their certificate to each other as client certificates. False: plain
	// HTTP.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// SecretName names a Secret of the cluster's namespace in
	// cert-manager's shape: tls.crt and tls.key (the nodes' certificate
	// and key, with the usages serverAuth and clientAuth) and ca.crt (the
	// CA the nodes and the operator trust). The certificate must name the
	// pods, *.<name>-peers.<namespace>.svc.<cluster domain>, and the
	// Services clients use. The operator reads it and never changes it.
	// Unset: the operator generates the CA Secret "<name>-ca" and the
	// certificate Secret "<name>-tls", and renews the certificate (1 year)
	// when a third of its lifetime is left.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// Auth configures the nodes' credentials. The Secret in use (generated or
// the user's) is mounted read-only at /etc/yzma/auth in the node pods; a
// change of its keys rolls the pods.
type Auth struct {
	// Enabled requires a bearer token on the HTTP API (but /healthz and
	// /readyz), a peer credential between nodes, and encrypts gossip.
	// False: the API is open and gossip is not encrypted.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// SecretName names a Secret of the cluster's namespace with the keys
	// tokens (client tokens, one "rw <token>", "ro <token>" or bare
	// "<token>" per line; the operator uses the first rw one), peer-tokens
	// (peer secrets, one per line) and gossip-keys (base64 of 16, 24 or 32
	// bytes, one per line, the first encrypting). The operator reads it and
	// never changes it. Unset: the operator generates "<name>-auth" once,
	// and never overwrites it: rotate by editing it. A change rolls the
	// pods; wait for the rollout between the steps of a rotation, so that
	// nodes on either side of it understand each other. A client token
	// (the operator's is the first rw one): add the new one after the
	// old, then remove the old. A peer secret or gossip key (the first is
	// the one used, every line is accepted): add the new one second, then
	// move it first, then remove the old.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// Storage describes each node's persistent volume.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.size) || quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0",message="storage.size cannot shrink: a PersistentVolumeClaim cannot be made smaller"
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName is immutable"
type Storage struct {
	// Size of each node's volume. It can grow but never shrink.
	// +kubebuilder:default="1Gi"
	// +optional
	Size resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the volumes; the cluster's default class if unset.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PVCPolicy says whether PersistentVolumeClaims are kept or deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type PVCPolicy string

const (
	// PVCRetain keeps the claims (and so the data).
	PVCRetain PVCPolicy = "Retain"
	// PVCDelete deletes the claims.
	PVCDelete PVCPolicy = "Delete"
)

// Persistence holds the volume policies.
type Persistence struct {
	// ScaleDownPolicy applies to the volume of a node removed by a
	// scale-down, once its data has been handed off and its pod is gone.
	// +kubebuilder:default=Delete
	// +optional
	ScaleDownPolicy PVCPolicy `json:"scaleDownPolicy,omitempty"`

	// DeletePolicy applies to every volume when the YzmaCluster is deleted.
	// +kubebuilder:default=Retain
	// +optional
	DeletePolicy PVCPolicy `json:"deletePolicy,omitempty"`
}

// Ports are the nodes' listening ports.
type Ports struct {
	// HTTP is the port of the key/value and cluster API.
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	HTTP int32 `json:"http,omitempty"`

	// Gossip is the memberlist port (TCP and UDP).
	// +kubebuilder:default=7946
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Gossip int32 `json:"gossip,omitempty"`
}

// PodTemplate holds what users may add to the node pods.
type PodTemplate struct {
	// Labels added to the pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Affinity of the pods. Unset, and with no topologySpreadConstraints
	// either, the pods get a preferred (soft) pod anti-affinity on
	// kubernetes.io/hostname for the cluster's own pods, so the nodes spread
	// over Kubernetes nodes when they can and still schedule on one. Setting
	// affinity or topologySpreadConstraints replaces that default.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// Tolerations of the pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// NodeSelector of the pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// TopologySpreadConstraints of the pods. Setting them replaces the
	// default anti-affinity (see affinity).
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// PriorityClassName of the pods.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// ServiceAccountName the pods run as.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// ImagePullSecrets of the pods, for a node image in a private registry.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// Env adds variables to the node container, after the operator's own
	// (e.g. YZMA_MAX_QUEUED_WRITES or YZMA_MAX_BODY_BYTES, see node/config).
	// The variables the operator sets itself (POD_NAME, POD_NAMESPACE,
	// POD_IP, YZMA_PEERING_NAME, YZMA_PEERING_ADVERTISE_ADDRESS,
	// YZMA_PEERING_BIND_PORT, YZMA_PEERING_SEED_DNS, YZMA_API_BIND,
	// YZMA_DB_PATH, and with tls and auth YZMA_TLS_CERT_FILE,
	// YZMA_TLS_KEY_FILE, YZMA_TLS_CA_FILE, YZMA_API_ADVERTISE_NAME,
	// YZMA_AUTH_TOKEN_FILE, YZMA_PEER_TOKEN_FILE, YZMA_GOSSIP_KEY_FILE) are
	// rejected, whether tls and auth are on or not: they come from the rest
	// of the spec.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, !(e.name in ['POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'YZMA_PEERING_NAME', 'YZMA_PEERING_ADVERTISE_ADDRESS', 'YZMA_PEERING_BIND_PORT', 'YZMA_PEERING_SEED_DNS', 'YZMA_API_BIND', 'YZMA_DB_PATH', 'YZMA_TLS_CERT_FILE', 'YZMA_TLS_KEY_FILE', 'YZMA_TLS_CA_FILE', 'YZMA_API_ADVERTISE_NAME', 'YZMA_AUTH_TOKEN_FILE', 'YZMA_PEER_TOKEN_FILE', 'YZMA_GOSSIP_KEY_FILE']))",message="podTemplate.env cannot set a variable the operator sets itself (POD_NAME, POD_NAMESPACE, POD_IP, YZMA_PEERING_NAME, YZMA_PEERING_ADVERTISE_ADDRESS, YZMA_PEERING_BIND_PORT, YZMA_PEERING_SEED_DNS, YZMA_API_BIND, YZMA_DB_PATH, YZMA_TLS_CERT_FILE, YZMA_TLS_KEY_FILE, YZMA_TLS_CA_FILE, YZMA_API_ADVERTISE_NAME, YZMA_AUTH_TOKEN_FILE, YZMA_PEER_TOKEN_FILE, YZMA_GOSSIP_KEY_FILE)"
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Volumes adds volumes to the pods, after the operator's own; mount
	// them in the node container with volumeMounts. The names "data" (the
	// node's claim), "tmp", "yzma-tls" and "yzma-auth" are the operator's.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(v, !(v.name in ['data', 'tmp', 'yzma-tls', 'yzma-auth']))",message="podTemplate.volumes cannot be named data, tmp, yzma-tls or yzma-auth: the operator's own volumes"
	// +optional
	Volumes []Volume `json:"volumes,omitempty"`
	// VolumeMounts adds mounts to the node container, after the operator's
	// own. The data directory /var/lib/yzma, the Secret directories
	// /etc/yzma/tls and /etc/yzma/auth (and anything under them) and /tmp
	// are the operator's.
	// +listType=map
	// +listMapKey=mountPath
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(m, m.mountPath != '/tmp' && m.mountPath != '/tmp/' && !['/var/lib/yzma', '/etc/yzma/tls', '/etc/yzma/auth'].exists(d, m.mountPath == d || m.mountPath.startsWith(d + '/')))",message="podTemplate.volumeMounts cannot use /var/lib/yzma (the node's data directory), /etc/yzma/tls, /etc/yzma/auth or /tmp: the operator's own mounts"
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
}

// Volume is a corev1.Volume: a name and one volume source (emptyDir,
// secret, configMap, projected, csi, …). Only the name is spelled out in
// the CRD's schema; the source is kept as given
// (x-kubernetes-preserve-unknown-fields) and validated by the API server
// when the StatefulSet is applied (a rejected one shows as Degraded). The
// full corev1.VolumeSource schema would more than double the CRD's size;
// operators such as cass-operator leave pod-template parts open likewise.
// +kubebuilder:pruning:PreserveUnknownFields
type Volume struct {
	// Name of the volume, for volumeMounts.
	Name string `json:"name"`
	// The volume source, inline as in a pod's volumes.
	// +kubebuilder:validation:Schemaless
	corev1.VolumeSource `json:",inline"`
}

// AnnotationFollowOperatorImage set to "true" on a YzmaCluster without
// spec.image makes it run the operator's current default node image, so an
// operator upgrade upgrades it too. Without it the image recorded in
// status.image stays.
const AnnotationFollowOperatorImage = "yzma.io/follow-operator-image"

// AnnotationForceRemove names a pod (for example "yzma-sample-4") that the
// scale-down in progress removes without the hand-off it cannot make (a
// crash-looping node, a lost volume). Writes acknowledged only by that
// node may be lost: the operator records a Warning event and the
// ForceRemoved condition. It applies only to the pod the scale-down is
// removing; remove the annotation afterwards.
const AnnotationForceRemove = "yzma.io/force-remove"

// AnnotationPause set to "true" stops the operator from changing anything
// for this cluster (children, scale-down steps) until it is removed; the
// status shows Paused. A leave call already in flight finishes.
const AnnotationPause = "yzma.io/pause"

// Condition types of a YzmaCluster.
const (
	// ConditionAvailable is True while at least one node is ready to serve.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while pods are being created, updated or
	// removed.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the last reconcile or leave failed.
	ConditionDegraded = "Degraded"
	// ConditionScalingDown is True while a scale-down proceeds, and False
	// with a reason when none runs or the current one is blocked.
	ConditionScalingDown = "ScalingDown"
	// ConditionForceRemoved is True while the yzma.io/force-remove
	// annotation stands and the operator removed the pod it names without
	// a hand-off: writes made only on that node may be lost.
	ConditionForceRemoved = "ForceRemoved"
	// ConditionPaused is True while the yzma.io/pause annotation stops
	// reconciling.
	ConditionPaused = "Paused"
	// ConditionRestored, on a cluster with spec.restoreFrom, is True once
	// the backup was restored into it, and False with a reason until then
	// (BackupNotReady, WaitingForNode, Restoring, RestoreFailed).
	ConditionRestored = "Restored"
)

// ScaleDownPhase is the step a scale-down operation is at.
type ScaleDownPhase string

const (
	// PhaseLeaving: POST /cluster/leave is being called on the pod.
	PhaseLeaving ScaleDownPhase = "Leaving"
	// PhaseConfirming: the leave answered; waiting until another member
	// reports the node as left.
	PhaseConfirming ScaleDownPhase = "Confirming"
	// PhaseShrinking: the StatefulSet has been lowered by one; waiting for
	// the pod to be gone.
	PhaseShrinking ScaleDownPhase = "Shrinking"
)

// ScaleDown records the scale-down step in progress, so that a restarted
// operator resumes it.
type ScaleDown struct {
	// Pod is the leaving pod.
	Pod string `json:"pod"`
	// Ordinal is the leaving pod's ordinal; the StatefulSet shrinks to it.
	Ordinal int32 `json:"ordinal"`
	// Phase is the current step.
	Phase ScaleDownPhase `json:"phase"`
	// Attempts counts the leave calls made.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// StartedAt is when this pod's scale-down began.
	StartedAt metav1.Time `json:"startedAt"`
	// PhaseSince is when the current phase began.
	PhaseSince metav1.Time `json:"phaseSince"`
	// LastAttemptAt is when the last leave call began.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`
	// LastError is the last leave failure, if any.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// HandedOffTo lists the members the leaving node proved hold all its
	// data. One of them seeing the node dead or absent confirms the leave
	// even if the leave announcement was lost.
	// +optional
	HandedOffTo []string `json:"handedOffTo,omitempty"`
	// Reason says why the pod is removed without a leave, when it is:
	// NeverAMember (no member ever saw it alive) or ForceRemoved (the
	// yzma.io/force-remove annotation).
	// +optional
	Reason string `json:"reason,omitempty"`
}

// Rollout is a rolling update of the node pods in progress. The operator
// moves the StatefulSet's partition one pod at a time, from the highest
// ordinal down, once the pod above is on the new revision, ready and a
// caught-up member (replication lag 0), and holds it while a scale-down
// runs.
type Rollout struct {
	// Revision is the StatefulSet revision the pods move to.
	Revision string `json:"revision"`
	// Partition is the StatefulSet's rolling-update partition: pods with
	// this ordinal or above may be on the new revision.
	Partition int32 `json:"partition"`
	// Pod is the pod the rollout waits on.
	// +optional
	Pod string `json:"pod,omitempty"`
	// Message says what the rollout waits for.
	// +optional
	Message string `json:"message,omitempty"`
}

// Member is one node as the cluster's membership reports it.
type Member struct {
	// Name is the member name (the pod name).
	Name string `json:"name"`
	// State is alive, suspect, left or dead.
	State string `json:"state"`
	// NodeID is the node's persistent identity.
	// +optional
	NodeID string `json:"nodeID,omitempty"`
	// Address is the gossip address.
	// +optional
	Address string `json:"address,omitempty"`
	// Lag is how many operations the reporting node holds that this member
	// is not known to have; -1 when unknown.
	// +optional
	Lag int64 `json:"lag"`
}

// YzmaClusterStatus is what the operator observed.
type YzmaClusterStatus struct {
	// Replicas is the number of node pods (the StatefulSet's).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// ReadyReplicas is the number of ready node pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// Image is the node image the StatefulSet runs: spec.image if set;
	// else, with the annotation yzma.io/follow-operator-image: "true", the
	// operator's default; else the image already recorded here; else the
	// image an existing StatefulSet runs (a cluster from an operator that
	// did not record it); else the operator's default at the cluster's
	// first reconcile.
	// +optional
	Image string `json:"image,omitempty"`
	// Selector is the pods' label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// Members is the membership as a ready node reports it.
	// +optional
	Members []Member `json:"members,omitempty"`
	// AliveMembers counts the members whose state is alive.
	// +optional
	AliveMembers int32 `json:"aliveMembers,omitempty"`
	// ScaleDown is the scale-down step in progress, if any.
	// +optional
	ScaleDown *ScaleDown `json:"scaleDown,omitempty"`
	// Rollout is the rolling update in progress, if any.
	// +optional
	Rollout *Rollout `json:"rollout,omitempty"`
	// Phase summarises the conditions: Available, Progressing, ScalingDown,
	// Degraded or Pending.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Conditions: Available, Progressing, Degraded, ScalingDown, ForceRemoved, Paused, Restored.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation of the last fully successful
	// reconcile.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// YzmaCluster is a Yzma key/value store cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=yzma
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.aliveMembers`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Leaving",type=string,JSONPath=`.status.scaleDown.pod`,priority=1
// +kubebuilder:printcolumn:name="Step",type=string,JSONPath=`.status.scaleDown.phase`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type YzmaCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   YzmaClusterSpec   `json:"spec,omitempty"`
	Status YzmaClusterStatus `json:"status,omitempty"`
}

// YzmaClusterList is a list of YzmaClusters.
//
// +kubebuilder:object:root=true
type YzmaClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []YzmaCluster `json:"items"`
}
