package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// The condition types are in api/v1alpha1 (ConditionAvailable, …). The
// reasons below are those of the conditions and of the events the
// reconciler records.

// Reasons of the Available, Progressing and Degraded conditions.
const (
	reasonNodesReady     = "NodesReady"
	reasonNoNodeReady    = "NoNodeReady"
	reasonRollingOut     = "RollingOut"
	reasonScalingUp      = "ScalingUp"
	reasonStable         = "Stable"
	reasonAsExpected     = "AsExpected"
	reasonSecretProblem  = "SecretUnusable"
	reasonReconcileError = "ReconcileError" // also a Warning event
)

// Reasons of the ScalingDown condition and of scale-down events.
const (
	reasonIdle            = "Idle"
	reasonLeaving         = "Leaving"
	reasonConfirming      = "Confirming"
	reasonShrinking       = "Shrinking"
	reasonWaitingForPod   = "WaitingForPod"
	reasonLeaveFailed     = "LeaveFailed"
	reasonNoConfirmation  = "NoMemberToConfirm"
	reasonScaleDownStart  = "ScaleDownStarted"
	reasonLeaveStarted    = "LeaveStarted"
	reasonLeaveSucceeded  = "LeaveSucceeded"
	reasonLeaveConfirmed  = "LeaveConfirmed"
	reasonScaleDownStep   = "ScaleDownStepDone"
	reasonScaleDownRevert = "ScaleDownReverted"
	reasonNeverAMember    = "NeverAMember"
	reasonForceRemoved    = "ForceRemoved"
	reasonRejoin          = "Rejoin"
)

// Reasons of the Paused condition and of rollout events.
const (
	reasonPaused   = "Paused"
	reasonStuckPod = "StuckPodRestarted"
)

// Reasons of the events about generated Secrets.
const (
	reasonSecretCreated = "SecretCreated"
	reasonCertRenewed   = "CertificateRenewed"
)

// Reasons of volume events.
const (
	reasonVolumeExpanding = "VolumeExpanding"
	reasonVolumeExpandErr = "VolumeExpandFailed"
)

// setCondition sets one condition of c, True when ok, for c's generation.
func setCondition(c *yzmav1.YzmaCluster, typ string, ok bool, reason, format string, args ...any) {
	setIn(&c.Status.Conditions, c.Generation, typ, ok, reason, format, args...)
}

// setIn sets one condition in conds, True when ok, for generation.
func setIn(conds *[]metav1.Condition, generation int64, typ string, ok bool, reason, format string, args ...any) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: fmt.Sprintf(format, args...), ObservedGeneration: generation,
	})
}

// Reasons of a YzmaBackup's Complete condition and of its events.
const (
	reasonSuspended           = "Suspended" // also of the Scheduled condition
	reasonClusterNotFound     = "ClusterNotFound"
	reasonClusterNotAvailable = "ClusterNotAvailable"
	reasonClaimNotFound       = "ClaimNotFound"
	reasonRunning             = "Running"
	reasonBackupStarted       = "BackupStarted"
	reasonBackupSucceeded     = "BackupSucceeded"
	reasonBackupFailed        = "BackupFailed"
	reasonBadReport           = "BadReport" // also of the Restored condition
)

// Reasons of a scheduled YzmaBackup's Scheduled condition and of its
// events.
const (
	reasonScheduled       = "Scheduled"
	reasonInvalidSchedule = "InvalidSchedule"
	reasonBackupScheduled = "BackupCreated"
	reasonBackupPruned    = "BackupDeleted"
)

// Reasons of a YzmaCluster's Restored condition and of restore events.
const (
	reasonBackupNotReady = "BackupNotReady"
	reasonWaitingForNode = "WaitingForNode"
	reasonRestoring      = "Restoring"
	reasonRestored       = "Restored"
	reasonRestoreFailed  = "RestoreFailed"
)

// setBackupCondition sets one condition of b, True when ok, for b's
// generation.
func setBackupCondition(b *yzmav1.YzmaBackup, typ string, ok bool, reason, format string, args ...any) {
	setIn(&b.Status.Conditions, b.Generation, typ, ok, reason, format, args...)
}
