package controller

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// The backup and restore Jobs (backup_job.go, restore.go) run the node
// image's /yzmactl against a cluster's nodes, with the cluster's
// credentials as the node pods get them: the auth Secret mounted at
// authDir with YZMA_AUTH_TOKEN_FILE naming its tokens (yzmactl uses the
// first rw one, as the operator does), and with TLS the CA, only the
// TLS Secret's ca.crt, mounted at tlsDir and passed as --cacert. The
// backup claim is mounted at backupDir. The command writes a one-line JSON
// report (toolReport) to its termination message, which the operator
// reads from the finished pod.
const (
	yzmactlBinary  = "/yzmactl"
	backupVolume   = "backup"
	backupDir      = "/backup"
	backupFileExt  = ".yzb"
	terminationLog = "/dev/termination-log"
	// jobBackoffLimit is how many times a failed backup or restore pod is
	// retried before its Job fails.
	jobBackoffLimit = 2
	// Job components, in app.kubernetes.io/component.
	componentBackup  = "backup"
	componentRestore = "restore"
	// labelPartOf names the cluster a Job works on. The Jobs' pods carry
	// no app.kubernetes.io/instance: the cluster's Services, budget and
	// pod cache select the node pods by it.
	labelPartOf = "app.kubernetes.io/part-of"
	// jobNameLabel is the label the Job controller puts on its pods.
	jobNameLabel = batchv1.JobNameLabel
)

// toolJob describes a Job running yzmactl against a cluster's nodes.
type toolJob struct {
	Name, Namespace string
	Cluster         string // for labelPartOf
	Component       string // componentBackup or componentRestore
	Image           string
	PullPolicy      corev1.PullPolicy
	Claim           string // mounted at backupDir
	// TLSSecret's ca.crt verifies the nodes; "" with TLS off.
	TLSSecret string
	// AuthSecret's tokens authenticate; "" with auth off.
	AuthSecret string
	// Args follow yzmactlBinary; --cacert is appended with TLSSecret.
	Args []string
}

// jobLabels are the labels of a Job of cluster and of its pods.
func jobLabels(cluster, component string) map[string]string {
	return map[string]string{
		labelName: appName, labelManagedBy: managerName, labelComponent: component, labelPartOf: cluster,
	}
}

// build makes the Job; its owner reference is added when it is created.
func (j toolJob) build() *batchv1.Job {
	args := slices.Clone(j.Args)
	vols := []corev1.Volume{
		{Name: backupVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: j.Claim},
		}},
		{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{{Name: backupVolume, MountPath: backupDir}, {Name: tmpVolume, MountPath: "/tmp"}}
	var env []corev1.EnvVar
	if j.TLSSecret != "" {
		vols = append(vols, corev1.Volume{Name: tlsVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: j.TLSSecret, DefaultMode: ptr.To[int32](secretMode),
			Items: []corev1.KeyToPath{{Key: caCertKey, Path: caCertKey}}, // not the nodes' key
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: tlsVolume, MountPath: tlsDir, ReadOnly: true})
		args = append(args, "--cacert", tlsDir+"/"+caCertKey)
	}
	if j.AuthSecret != "" {
		vols = append(vols, corev1.Volume{Name: authVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: j.AuthSecret, DefaultMode: ptr.To[int32](secretMode),
			Items: []corev1.KeyToPath{{Key: authTokensKey, Path: authTokensKey}}, // not the peer secrets
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: authVolume, MountPath: authDir, ReadOnly: true})
		env = append(env, corev1.EnvVar{Name: "YZMA_AUTH_TOKEN_FILE", Value: authDir + "/" + authTokensKey})
	}
	pull := j.PullPolicy
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	labels := jobLabels(j.Cluster, j.Component)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: j.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](jobBackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name:            "yzmactl",
						Image:           j.Image,
						ImagePullPolicy: pull,
						Command:         []string{yzmactlBinary},
						Args:            args,
						Env:             env,
						VolumeMounts:    mounts,
						// The report; a failure's log tail when there is none.
						TerminationMessagePath:   terminationLog,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					// The node's user and group: the Secrets' files are
					// readable by the group, and the claim writable.
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nodeUID),
						RunAsGroup:     ptr.To[int64](nodeUID),
						FSGroup:        ptr.To[int64](nodeUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Volumes: vols,
				},
			},
		},
	}
}

// clusterSecretNames are the TLS and auth Secrets c's pods mount ("" for
// one that is off): the spec's, else the generated ones.
func clusterSecretNames(c *yzmav1.YzmaCluster) (tls, auth string) {
	if tlsEnabled(c) {
		tls = cmp.Or(c.Spec.TLS.SecretName, tlsSecretName(c))
	}
	if authEnabled(c) {
		auth = cmp.Or(c.Spec.Auth.SecretName, authSecretName(c))
	}
	return tls, auth
}

// apiScheme is the scheme of c's HTTP API.
func apiScheme(c *yzmav1.YzmaCluster) string {
	if tlsEnabled(c) {
		return "https"
	}
	return "http"
}

// jobOutcome is where a Job is: running, or finished with success or
// failure (its Complete or Failed condition).
type jobOutcome int

const (
	jobRunning jobOutcome = iota
	jobSucceeded
	jobFailed
)

// outcome reads job's terminal condition; the message is the Failed
// condition's.
func outcome(job *batchv1.Job) (jobOutcome, string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobSucceeded, ""
		case batchv1.JobFailed:
			return jobFailed, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return jobRunning, ""
}

// terminationMessage is the termination message of a Job's pods: of the
// one whose container succeeded, when success; else of the latest pod
// that failed. "" if none has one.
func terminationMessage(pods []corev1.Pod, success bool) string {
	var msg string
	var at time.Time
	for _, pod := range pods {
		for _, cs := range pod.Status.ContainerStatuses {
			for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if term == nil || (term.ExitCode == 0) != success {
					continue
				}
				if msg == "" || term.FinishedAt.After(at) {
					msg, at = strings.TrimSpace(term.Message), term.FinishedAt.Time
				}
			}
		}
	}
	return msg
}

// toolReport is the JSON line yzmactl backup and restore write to
// --report: the file (its path in the Job's pod), its size, checksum and
// keys, the node (backup: the one read; restore: the restored node's new
// ID) and, for a backup, when it was taken.
type toolReport struct {
	File   string    `json:"file"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Keys   int64     `json:"keys"`
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// errReport means a Job's report is missing or not what yzmactl writes.
var errReport = errors.New("unusable report")

// parseReport parses a report (its last line, should the message hold
// more) and checks it names a file and a SHA-256.
func parseReport(msg string) (toolReport, error) {
	msg = strings.TrimSpace(msg)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	var r toolReport
	if err := json.Unmarshal([]byte(msg), &r); err != nil {
		return r, fmt.Errorf("%w: %q: %w", errReport, msg, err)
	}
	if r.File == "" || r.Size < 0 || r.Keys < 0 || !sha256Hex.MatchString(r.SHA256) {
		return r, fmt.Errorf("%w: %q: no file, a negative size or count, or no SHA-256", errReport, msg)
	}
	return r, nil
}
