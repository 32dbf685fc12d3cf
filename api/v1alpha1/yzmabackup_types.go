package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// YzmaBackupSpec is what to back up, where to, and when.
//
// +kubebuilder:validation:XValidation:rule="has(self.schedule) == has(oldSelf.schedule)",message="a YzmaBackup cannot switch between one-shot and scheduled: create another one"
type YzmaBackupSpec struct {
	// Cluster names the YzmaCluster of this namespace to back up.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cluster is immutable"
	Cluster string `json:"cluster"`

	// Target is where the backup file is written: "<backup name>.yzb" at
	// the root of the volume.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="target is immutable"
	Target BackupTarget `json:"target"`

	// Schedule, in cron syntax (five fields, "0 3 * * *", or a descriptor
	// such as "@daily" or "@every 6h"; times are UTC unless it starts with
	// "CRON_TZ=<zone> "), makes this a scheduled backup: it runs no backup
	// itself but creates a one-shot YzmaBackup "<name>-<YYYYMMDDHHMMSS>"
	// at each due time. Due times missed while the operator was down come
	// to one backup, for the latest of them, created at once (as a CronJob
	// without startingDeadlineSeconds would); a backup still running when
	// the next is due does not delay it. A schedule that does not parse is
	// reported in the Scheduled condition. Unset: this is a one-shot
	// backup, run once.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// Keep is how many backups of a schedule are kept: the backup Job
	// deletes older "<name>-*.yzb" files from the volume, and the operator
	// deletes the oldest Succeeded YzmaBackups it created beyond that
	// number, and every Failed one but the latest (failures never push a
	// success out; one that has not finished stays). Ignored by a one-shot
	// backup.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +optional
	Keep *int32 `json:"keep,omitempty"`

	// Suspend stops a schedule from creating backups (a one-shot backup
	// not started yet waits); a backup already running goes on. Resumed,
	// a schedule that missed due times runs one backup at once.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BackupTarget is where a backup file goes.
type BackupTarget struct {
	// PersistentVolumeClaim of this namespace that receives the file.
	PersistentVolumeClaim BackupClaim `json:"persistentVolumeClaim"`
}

// BackupClaim names a PersistentVolumeClaim.
type BackupClaim struct {
	// ClaimName is the claim's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`
}

// BackupPhase is where a backup is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Scheduled
type BackupPhase string

const (
	// BackupPending: waiting for the cluster to be available (or for its
	// claim, or while suspended); the Complete condition says why.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: the backup Job runs.
	BackupRunning BackupPhase = "Running"
	// BackupSucceeded: the file is written and verified; status.file,
	// size, checksum, keys and node describe it.
	BackupSucceeded BackupPhase = "Succeeded"
	// BackupFailed: the backup Job failed; the Complete condition holds
	// its message. Delete and create the YzmaBackup to try again.
	BackupFailed BackupPhase = "Failed"
	// BackupScheduled: a scheduled backup (spec.schedule), which creates
	// one-shot backups at its due times.
	BackupScheduled BackupPhase = "Scheduled"
)

// Condition types of a YzmaBackup.
const (
	// ConditionComplete is True once a one-shot backup succeeded, and
	// False with a reason while it waits or runs, or when it failed.
	ConditionComplete = "Complete"
	// ConditionScheduled is True while a schedule creates backups, and
	// False when its schedule is invalid or it is suspended.
	ConditionScheduled = "Scheduled"
)

// LabelSchedule on a YzmaBackup names the scheduled YzmaBackup that
// created it.
const LabelSchedule = "db.yzma.io/schedule"

// YzmaBackupStatus is what the operator observed of a backup.
type YzmaBackupStatus struct {
	// Phase: Pending, Running, Succeeded or Failed for a one-shot backup;
	// Scheduled for a scheduled one.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// File is the backup file's name at the root of the target volume.
	// +optional
	File string `json:"file,omitempty"`
	// Size of the file in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// Checksum is "sha256:<hex>", the SHA-256 of the backup's content,
	// which the file ends with: its last 32 bytes are that hash of what
	// precedes them (head -c -32 FILE | sha256sum).
	// +optional
	Checksum string `json:"checksum,omitempty"`
	// Keys is how many key states the backup holds: its live keys, and
	// any deleted one whose delete still carries causal context.
	// +optional
	Keys int64 `json:"keys,omitempty"`
	// Node is the ID of the node the backup was taken from.
	// +optional
	Node string `json:"node,omitempty"`
	// StartTime is when the backup Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the backup was taken (or failed).
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// LastScheduleTime is the due time of the last backup a schedule
	// created.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is a schedule's next due time.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// Conditions: Complete (one-shot) or Scheduled (scheduled).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// YzmaBackup is a backup of a YzmaCluster into a file on a volume, once
// or on a schedule. A YzmaCluster's spec.restoreFrom restores one into a
// new cluster. Deleting a YzmaBackup leaves its file on the volume.
//
// The name makes the backup Job's name "<name>-backup", at most 63
// characters, and a schedule's backups "<name>-<YYYYMMDDHHMMSS>": hence
// the limits on its length.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=yb
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 56",message="a YzmaBackup's name is at most 56 characters"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.schedule) || size(self.metadata.name) <= 41",message="a scheduled YzmaBackup's name is at most 41 characters"
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Checksum",type=string,JSONPath=`.status.checksum`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type YzmaBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   YzmaBackupSpec   `json:"spec"`
	Status YzmaBackupStatus `json:"status,omitempty"`
}

// YzmaBackupList is a list of YzmaBackups.
//
// +kubebuilder:object:root=true
type YzmaBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []YzmaBackup `json:"items"`
}
