package controller

import (
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// These tests need no API server.

func backupObj(mutate ...func(*yzmav1.YzmaBackup)) *yzmav1.YzmaBackup {
	b := &yzmav1.YzmaBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b1"},
		Spec: yzmav1.YzmaBackupSpec{Cluster: "db", Target: yzmav1.BackupTarget{
			PersistentVolumeClaim: yzmav1.BackupClaim{ClaimName: "backups"},
		}},
	}
	for _, m := range mutate {
		m(b)
	}
	return b
}

// ownedBy makes b a backup the schedule named created.
func ownedBy(schedule string) func(*yzmav1.YzmaBackup) {
	return func(b *yzmav1.YzmaBackup) {
		b.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: yzmav1.GroupVersion.String(), Kind: "YzmaBackup", Name: schedule, UID: "u1", Controller: ptr.To(true),
		}}
	}
}

// jobContainer is the Job's one container; it fails t unless there is
// exactly one.
func jobContainer(t *testing.T, job *batchv1.Job) corev1.Container {
	t.Helper()
	if n := len(job.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return job.Spec.Template.Spec.Containers[0]
}

// flag is the value after name in args, and whether it is there.
func flag(args []string, name string) (string, bool) {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

func mountAt(mounts []corev1.VolumeMount, path string) (corev1.VolumeMount, bool) {
	i := slices.IndexFunc(mounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
	if i < 0 {
		return corev1.VolumeMount{}, false
	}
	return mounts[i], true
}

func volumeNamed(vols []corev1.Volume, name string) (corev1.Volume, bool) {
	i := slices.IndexFunc(vols, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		return corev1.Volume{}, false
	}
	return vols[i], true
}

// checkToolJob checks what every backup and restore Job has: a Never
// restart policy, a small backoff limit, /yzmactl with the termination
// log, the claim at /backup, and the credentials as the node pods get
// them (the CA only, the tokens only) when tls and auth are on.
func checkToolJob(t *testing.T, job *batchv1.Job, claim, tlsSecret, authSecret string) {
	t.Helper()
	spec := job.Spec.Template.Spec
	ctr := jobContainer(t, job)
	if spec.RestartPolicy != corev1.RestartPolicyNever || ptr.Deref(job.Spec.BackoffLimit, -1) != jobBackoffLimit {
		t.Errorf("restartPolicy %q backoffLimit %v", spec.RestartPolicy, job.Spec.BackoffLimit)
	}
	if !slices.Equal(ctr.Command, []string{"/yzmactl"}) || ctr.TerminationMessagePath != "/dev/termination-log" ||
		ctr.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("command %v terminationMessagePath %q policy %q", ctr.Command, ctr.TerminationMessagePath, ctr.TerminationMessagePolicy)
	}
	if r, _ := flag(ctr.Args, "--report"); r != "/dev/termination-log" {
		t.Errorf("--report %q", r)
	}
	if m, ok := mountAt(ctr.VolumeMounts, "/backup"); !ok {
		t.Error("no mount at /backup")
	} else if v, _ := volumeNamed(spec.Volumes, m.Name); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim {
		t.Errorf("/backup is volume %+v, want claim %s", v, claim)
	}
	for _, l := range []map[string]string{job.Labels, job.Spec.Template.Labels} {
		if l[labelName] != appName || l[labelManagedBy] != managerName || l[labelInstance] != "" {
			t.Errorf("labels %v: want yzma's, managed by the operator, and no instance (the node pods' selector)", l)
		}
	}
	ca, _ := flag(ctr.Args, "--cacert")
	tlsMount, tlsMounted := mountAt(ctr.VolumeMounts, tlsDir)
	if tlsSecret == "" {
		if ca != "" || tlsMounted {
			t.Errorf("TLS off: --cacert %q, mount %v", ca, tlsMounted)
		}
	} else {
		v, _ := volumeNamed(spec.Volumes, tlsMount.Name)
		if ca != "/etc/yzma/tls/ca.crt" || v.Secret == nil || v.Secret.SecretName != tlsSecret ||
			!slices.Equal(v.Secret.Items, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}) {
			t.Errorf("TLS on: --cacert %q, volume %+v: want ca.crt of %s only", ca, v, tlsSecret)
		}
	}
	tokenFile, hasTokenFile := envValue(ctr.Env, "YZMA_AUTH_TOKEN_FILE")
	authMount, authMounted := mountAt(ctr.VolumeMounts, authDir)
	if authSecret == "" {
		if hasTokenFile || authMounted {
			t.Errorf("auth off: YZMA_AUTH_TOKEN_FILE %v, mount %v", hasTokenFile, authMounted)
		}
	} else {
		v, _ := volumeNamed(spec.Volumes, authMount.Name)
		if tokenFile.Value != "/etc/yzma/auth/tokens" || v.Secret == nil || v.Secret.SecretName != authSecret ||
			!slices.Equal(v.Secret.Items, []corev1.KeyToPath{{Key: "tokens", Path: "tokens"}}) {
			t.Errorf("auth on: YZMA_AUTH_TOKEN_FILE %q, volume %+v: want tokens of %s only", tokenFile.Value, v, authSecret)
		}
	}
	if _, ok := envValue(ctr.Env, "YZMA_TOKEN"); ok {
		t.Error("the token is in the Job's spec")
	}
	if sc := spec.SecurityContext; sc == nil || ptr.Deref(sc.FSGroup, 0) != nodeUID || !ptr.Deref(sc.RunAsNonRoot, false) {
		t.Errorf("pod security context %+v: want non-root with the node's group", sc)
	}
}

func TestBackupJobBuilder(t *testing.T) {
	on := cluster(func(c *yzmav1.YzmaCluster) { c.Status.Image = "yzma:2.0"; c.Spec.ImagePullPolicy = corev1.PullAlways })
	tests := []struct {
		name           string
		b              *yzmav1.YzmaBackup
		c              *yzmav1.YzmaCluster
		server, image  string
		tls, auth      string
		keep, keepGlob string
	}{
		{"one-shot, TLS and auth on, generated Secrets", backupObj(), on,
			"https://db.ns.svc.cluster.local:8080", "yzma:2.0", "db-tls", "db-auth", "", ""},
		{"the user's Secrets and port", backupObj(), cluster(func(c *yzmav1.YzmaCluster) {
			c.Spec.TLS.SecretName, c.Spec.Auth.SecretName, c.Spec.Ports.HTTP = "my-cert", "my-auth", 9000
			c.Spec.Image = "yzma:spec"
		}), "https://db.ns.svc.cluster.local:9000", "yzma:spec", "my-cert", "my-auth", "", ""},
		{"TLS and auth off", backupObj(), cluster(func(c *yzmav1.YzmaCluster) {
			c.Spec.TLS.Enabled, c.Spec.Auth.Enabled = ptr.To(false), ptr.To(false)
		}), "http://db.ns.svc.cluster.local:8080", "yzma:default", "", "", "", ""},
		{"a schedule's backup prunes its files", backupObj(ownedBy("nightly"), func(b *yzmav1.YzmaBackup) {
			b.Name, b.Spec.Keep = "nightly-20261202030000", ptr.To[int32](3)
		}), on, "https://db.ns.svc.cluster.local:8080", "yzma:2.0", "db-tls", "db-auth", "3", "nightly-*.yzb"},
		{"a schedule's backup from before keep had a default", backupObj(ownedBy("nightly")), on,
			"https://db.ns.svc.cluster.local:8080", "yzma:2.0", "db-tls", "db-auth", "7", "nightly-*.yzb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := backupJob(tt.b, tt.c, "yzma:default", "cluster.local")
			if job.Name != tt.b.Name+"-backup" || job.Namespace != "ns" || job.Labels[labelComponent] != "backup" || job.Labels[labelPartOf] != "db" {
				t.Errorf("job %s/%s labels %v", job.Namespace, job.Name, job.Labels)
			}
			checkToolJob(t, job, "backups", tt.tls, tt.auth)
			ctr := jobContainer(t, job)
			if ctr.Image != tt.image || ctr.ImagePullPolicy != cmpPull(tt.c.Spec.ImagePullPolicy) {
				t.Errorf("image %q %q, want %q", ctr.Image, ctr.ImagePullPolicy, tt.image)
			}
			if ctr.Args[0] != "backup" {
				t.Errorf("args %v: want the backup command", ctr.Args)
			}
			server, _ := flag(ctr.Args, "--server")
			out, _ := flag(ctr.Args, "--out")
			if server != tt.server || out != "/backup/"+tt.b.Name+".yzb" {
				t.Errorf("--server %q --out %q, want %q and the backup's file", server, out, tt.server)
			}
			keep, _ := flag(ctr.Args, "--keep")
			glob, _ := flag(ctr.Args, "--keep-glob")
			if keep != tt.keep || glob != tt.keepGlob {
				t.Errorf("--keep %q --keep-glob %q, want %q %q", keep, glob, tt.keep, tt.keepGlob)
			}
		})
	}
}

func cmpPull(p corev1.PullPolicy) corev1.PullPolicy {
	if p == "" {
		return corev1.PullIfNotPresent
	}
	return p
}

func TestRestoreJobBuilder(t *testing.T) {
	done := backupObj(func(b *yzmav1.YzmaBackup) {
		b.Status = yzmav1.YzmaBackupStatus{Phase: yzmav1.BackupSucceeded, File: "b1.yzb", Checksum: "sha256:" + strings.Repeat("ab", 32)}
	})
	tests := []struct {
		name      string
		c         *yzmav1.YzmaCluster
		s         podSettings
		server    string
		tls, auth string
	}{
		{"TLS and auth on", cluster(func(c *yzmav1.YzmaCluster) { c.Name = "copy" }), secured,
			"https://copy-0.copy-peers.ns.svc.cluster.local:8080", "db-tls", "db-auth"},
		{"TLS and auth off, another port and domain", cluster(func(c *yzmav1.YzmaCluster) {
			c.Name, c.Spec.Ports.HTTP = "copy", 9000
			c.Spec.TLS.Enabled = ptr.To(false)
		}), podSettings{Image: "yzma:1.0", ClusterDomain: "example.org"},
			"http://copy-0.copy-peers.ns.svc.example.org:9000", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := restoreJob(tt.c, done, tt.s)
			if job.Name != "copy-restore" || job.Labels[labelComponent] != "restore" || job.Labels[labelPartOf] != "copy" {
				t.Errorf("job %s labels %v", job.Name, job.Labels)
			}
			checkToolJob(t, job, "backups", tt.tls, tt.auth)
			ctr := jobContainer(t, job)
			if ctr.Image != tt.s.Image || ctr.Args[0] != "restore" {
				t.Errorf("image %q args %v", ctr.Image, ctr.Args)
			}
			server, _ := flag(ctr.Args, "--server")
			in, _ := flag(ctr.Args, "--in")
			sum, _ := flag(ctr.Args, "--sha256")
			if server != tt.server || in != "/backup/b1.yzb" || sum != strings.Repeat("ab", 32) {
				t.Errorf("--server %q --in %q --sha256 %q, want %q, the backup's file and checksum", server, in, sum, tt.server)
			}
		})
	}
	// The server's host is a name the nodes' certificate holds.
	c := cluster()
	host := podDNSName(c, podName(c, 0), "cluster.local")
	sans := clusterSANs(c, "cluster.local")
	if !slices.ContainsFunc(sans.DNSNames, func(n string) bool {
		wild, ok := strings.CutPrefix(n, "*.")
		return ok && strings.HasSuffix(host, "."+wild) && !strings.Contains(strings.TrimSuffix(host, "."+wild), ".")
	}) {
		t.Errorf("%s is not in the certificate's names %v", host, sans.DNSNames)
	}
	if !slices.Contains(sans.DNSNames, "db.ns.svc.cluster.local") {
		t.Errorf("the client Service's name is not in the certificate's names %v", sans.DNSNames)
	}
}

func TestBackupParseReport(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	tests := []struct {
		name, msg string
		want      toolReport
		wantErr   bool
	}{
		{"backup", `{"file":"/backup/b1.yzb","size":12345,"sha256":"` + sum + `","keys":1000,"node":"n1","time":"2026-12-02T17:00:00Z"}`,
			toolReport{File: "/backup/b1.yzb", Size: 12345, SHA256: sum, Keys: 1000, Node: "n1", Time: time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)}, false},
		{"restore, no time, trailing newline", `{"file":"/backup/b1.yzb","size":1,"sha256":"` + sum + `","keys":0,"node":"n2"}` + "\n",
			toolReport{File: "/backup/b1.yzb", Size: 1, SHA256: sum, Node: "n2"}, false},
		{"log lines before the report", "progress\n" + `{"file":"f.yzb","size":1,"sha256":"` + sum + `","keys":1,"node":"n"}`,
			toolReport{File: "f.yzb", Size: 1, SHA256: sum, Keys: 1, Node: "n"}, false},
		{"empty", "", toolReport{}, true},
		{"an error message", "yzmactl: 409 Conflict: the node is not empty", toolReport{}, true},
		{"no checksum", `{"file":"f","size":1,"keys":1}`, toolReport{}, true},
		{"short checksum", `{"file":"f","size":1,"sha256":"abc"}`, toolReport{}, true},
		{"no file", `{"size":1,"sha256":"` + sum + `"}`, toolReport{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReport(tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !got.Time.Equal(tt.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if !tt.wantErr && got != tt.want {
				t.Errorf("%+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackupTerminationMessage(t *testing.T) {
	at := func(min int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 2, 17, min, 0, 0, time.UTC)) }
	pod := func(code int32, msg string, finished metav1.Time) corev1.Pod {
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg, FinishedAt: finished}},
		}}}}
	}
	running := corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}}
	tests := []struct {
		name    string
		pods    []corev1.Pod
		success bool
		want    string
	}{
		{"the succeeded pod's", []corev1.Pod{pod(2, "boom", at(1)), pod(0, "report\n", at(2))}, true, "report"},
		{"the latest failure's", []corev1.Pod{pod(2, "first", at(1)), pod(2, "second", at(3)), pod(2, "middle", at(2))}, false, "second"},
		{"no pod finished", []corev1.Pod{running}, true, ""},
		{"no pods", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminationMessage(tt.pods, tt.success); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackupOutcome(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, s corev1.ConditionStatus) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: s, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}
	}
	tests := []struct {
		name  string
		conds []batchv1.JobCondition
		want  jobOutcome
	}{
		{"new", nil, jobRunning},
		{"complete", []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue), cond(batchv1.JobComplete, corev1.ConditionTrue)}, jobSucceeded},
		{"failure target only: pods still terminating", []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue)}, jobRunning},
		{"failed", []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue)}, jobFailed},
		{"a false condition", []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionFalse)}, jobRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := outcome(&batchv1.Job{Status: batchv1.JobStatus{Conditions: tt.conds}})
			if got != tt.want || (got == jobFailed) != (msg != "") {
				t.Errorf("%v %q, want %v", got, msg, tt.want)
			}
		})
	}
}

func TestBackupLastDue(t *testing.T) {
	hourly, err := parseSchedule("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	daily, err := parseSchedule("@daily")
	if err != nil {
		t.Fatal(err)
	}
	zoned, err := parseSchedule("CRON_TZ=Europe/Paris 0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	d := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name       string
		after, now time.Time
		sched      interface{ Next(time.Time) time.Time }
		want       time.Time // zero: none due
	}{
		{"none due yet", d(10, 5), d(10, 59), hourly, time.Time{}},
		{"due exactly now", d(10, 5), d(11, 0), hourly, d(11, 0)},
		{"several missed: the latest only", d(2, 30), d(17, 20), hourly, d(17, 0)},
		{"the last due time is not due again", d(11, 0), d(11, 30), hourly, time.Time{}},
		{"daily, in UTC", d(0, 0).Add(-time.Hour), d(17, 0), daily, d(0, 0)},
		{"a zone", d(0, 0), d(17, 0), zoned, d(2, 0)}, // 03:00 in Paris is 02:00 UTC in December
		{"local times are read as UTC", d(10, 5).Local(), d(11, 30).Local(), hourly, d(11, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lastDue(tt.sched, tt.after, tt.now)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Errorf("%v %v, want %v", got, ok, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "not a schedule", "61 * * * *", "* * * *", "0 0 30 2 *", "@sometimes"} {
		if _, err := parseSchedule(bad); err == nil {
			t.Errorf("parseSchedule(%q): no error", bad)
		}
	}
}

func TestBackupScheduledBackupBuilder(t *testing.T) {
	s := backupObj(func(b *yzmav1.YzmaBackup) {
		b.Name, b.Spec.Schedule, b.Spec.Keep = "nightly", "0 3 * * *", ptr.To[int32](3)
	})
	due := time.Date(2026, 12, 2, 3, 0, 0, 0, time.FixedZone("X", 3600))
	child := scheduledBackup(s, due)
	if child.Name != "nightly-20261202020000" || child.Namespace != "ns" || child.Labels[yzmav1.LabelSchedule] != "nightly" {
		t.Errorf("child %s/%s labels %v", child.Namespace, child.Name, child.Labels)
	}
	if child.Spec.Schedule != "" || child.Spec.Cluster != "db" || child.Spec.Target != s.Spec.Target || ptr.Deref(child.Spec.Keep, 0) != 3 {
		t.Errorf("child spec %+v", child.Spec)
	}
	if scheduleOf(child) != "" { // the owner reference comes with the creation
		t.Errorf("scheduleOf before the owner reference: %q", scheduleOf(child))
	}
	if got := scheduleOf(backupObj(ownedBy("nightly"))); got != "nightly" {
		t.Errorf("scheduleOf %q, want nightly", got)
	}
}

func TestBackupPruneCandidates(t *testing.T) {
	child := func(name string, phase yzmav1.BackupPhase) yzmav1.YzmaBackup {
		return yzmav1.YzmaBackup{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: yzmav1.YzmaBackupStatus{Phase: phase}}
	}
	const ok, failed, running, pending = yzmav1.BackupSucceeded, yzmav1.BackupFailed, yzmav1.BackupRunning, yzmav1.BackupPending
	tests := []struct {
		name     string
		children []yzmav1.YzmaBackup
		keep     int
		want     []string
	}{
		{"within keep", []yzmav1.YzmaBackup{child("s-1", ok), child("s-2", ok)}, 2, nil},
		{"oldest first", []yzmav1.YzmaBackup{child("s-3", ok), child("s-1", ok), child("s-2", ok)}, 1, []string{"s-1", "s-2"}},
		{"failures do not count against keep", []yzmav1.YzmaBackup{child("s-1", failed), child("s-2", ok), child("s-3", ok)}, 2, nil},
		{"the latest failure stays", []yzmav1.YzmaBackup{child("s-4", failed), child("s-1", failed), child("s-3", ok), child("s-2", failed)}, 1, []string{"s-1", "s-2"}},
		{"both", []yzmav1.YzmaBackup{child("s-1", ok), child("s-2", failed), child("s-3", ok), child("s-4", failed)}, 1, []string{"s-1", "s-2"}},
		{"never one that has not finished", []yzmav1.YzmaBackup{child("s-1", pending), child("s-2", running), child("s-3", ok)}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, b := range pruneCandidates(tt.children, tt.keep) {
				got = append(got, b.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%v, want %v", got, tt.want)
			}
		})
	}
}
