// Package controller holds the YzmaCluster and YzmaBackup reconcilers.
//
// Each reconcile pass runs the steps below in order (Reconciler.steps), one
// file per step, all with one signature: a method taking the context and
// the pass's state (state.go), returning an error that ends the pass. Every
// child object comes from a pure builder function (tested without an API
// server) and is applied with server-side apply:
//
//	secrets.go         the TLS and auth Secrets the pods mount: generated or
//	                   the user's, read, checked, their configuration hash
//	services.go        the headless Service (gossip seeds) and client Service
//	poddisruption.go   the PodDisruptionBudget (maxUnavailable 1)
//	observe.go         the StatefulSet and its pods as they are
//	scaledown.go       the scale-down state machine: leave before shrink
//	rollout.go         the rolling-update partition: one caught-up pod at a time
//	statefulset.go     the StatefulSet of node pods
//	volumes.go         existing claims grown to a larger spec.storage.size
//	observe.go         again, after the changes
//	members.go         the membership as a ready node reports it
//	rejoin.go          nodes that left but belong to the cluster asked to rejoin
//	restore.go         spec.restoreFrom: the restore Job into pod 0, the
//	                   Restored condition (last: it never holds up the rest)
//
// Before the steps, the yzma.io/pause annotation stops the pass (pause.go).
// The manager caches only the nodes' pods and claims, never Secrets
// (cache.go).
//
// TLS and auth are on unless the spec turns them off. Without a Secret
// named in the spec the operator generates them as children of the
// cluster: a CA ("<cluster>-ca", certs.go, kept for good), the nodes'
// certificate ("<cluster>-tls", one for every pod: the Services' names,
// a wildcard for the pods, localhost; issued again by the same CA when a
// third of its year is left or its names changed) and the auth Secret
// ("<cluster>-auth", authdata.go: a rw token, a peer secret, a gossip key;
// created once, never overwritten, rotated by users editing it). A user's
// Secret is read and checked, never changed. Each pass reads them afresh
// (no watch), and their keys' values make a configuration hash in the pod
// template: an edit or a renewal rolls the pods within resyncInterval.
// The Secret keys, file paths and variables are the contract with the node
// (config.go, nodeEnv in statefulset.go). The operator calls the nodes
// with the first rw token and, with TLS, over HTTPS trusting only the
// Secret's ca.crt and verifying the pod's DNS name (nodeclient.go).
//
// The pod template gets a preferred pod anti-affinity on the Kubernetes node
// unless the spec sets an affinity or topology spread constraints, and the
// spec's extra env, volumes and mounts come after the operator's own, which
// they cannot replace (CEL rules in the CRD; the builder skips them too).
//
// The node image is spec.image; unset, it is the image recorded in
// status.image, which is the operator's default at the cluster's first
// reconcile, so an operator upgrade restarts no cluster unless it carries
// the annotation yzma.io/follow-operator-image: "true" (nodeImage in
// statefulset.go).
//
// After the pass, with or without an error, status.go records replicas,
// conditions, phase and observedGeneration; the condition and event reasons
// are in conditions.go.
//
// Scale-down removes one pod at a time, highest ordinal first: it calls
// POST /cluster/leave on the pod (asynchronously, see leaves.go), confirms
// through another member that the node has left, and only then lowers the
// StatefulSet by one. The step in progress is recorded in the status, so a
// restarted operator resumes it. A member the node proved it handed off to
// that sees it dead confirms too (a lost leave announcement). Ways out, each
// explicit: a pod no member ever saw is removed without a leave after
// NeverMemberTimeout (it took no writes); a member that cannot hand off goes
// only when the yzma.io/force-remove annotation names it, with a Warning
// event and the ForceRemoved condition. While a scale-down runs no pod
// moves to a new template, and a pod of an outdated revision stuck unready
// is restarted so a fixed spec rolls out. Pods are reached through the NodeClient
// interface (nodeclient.go), directly or through the API server's pod proxy.
//
// # Backups
//
// The YzmaBackup reconciler (backup_controller.go) has its own steps, on
// its own pass state (backupPass), in the same style:
//
//	backup_schedule.go   a schedule (spec.schedule): creates the one-shot
//	                     backup of each due time, requeues for the next
//	backup_retention.go  a schedule: deletes its successes beyond spec.keep, its failures but the latest
//	backup_observe.go    a one-shot backup: its Job as it is
//	backup_cluster.go    waits (Pending) for the cluster to be Available
//	backup_job.go        the backup Job
//	backup_result.go     the Job's outcome and report into the status
//
// Backups and restores run the node image's /yzmactl in a Job (jobs.go),
// never in the operator: the data goes from a node to a volume without
// passing through the manager, and the Job mounts the cluster's
// credentials as the node pods do (the CA and the tokens only). The
// command writes a one-line JSON report to its termination message; the
// reconcilers read it from the finished pod through the APIReader (the
// Jobs are cached by their labels, their pods are not). A backup is taken
// through the client Service, from whichever ready node answers; a
// restore goes to pod 0 by its name in the headless Service, and the
// other nodes replicate from it. A Job that fails is retried by the Job
// controller (backoffLimit), then the YzmaBackup is Failed for good (create
// another) and a restore RestoreFailed until its Job is deleted, which
// starts a new one.
//
// A schedule works as a CronJob with concurrencyPolicy Allow and no
// startingDeadlineSeconds would, with two differences: of due times
// missed while the operator was down (or the schedule suspended) only the
// latest runs, at once, and at most one; and the backups it creates are
// YzmaBackups ("<schedule>-<YYYYMMDDHHMMSS>", its children), whose Jobs
// also delete the schedule's files beyond spec.keep. The reconciler tells
// the time by an injected clock (BackupOptions.Clock), which the tests
// drive. Deleting a backup object leaves its file.
package controller
