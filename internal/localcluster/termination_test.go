package localcluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestTerminationMessage: a container's terminationMessagePath, named in
// its environment or arguments, is a file whose content becomes its terminated
// state's message (and, after a restart, its lastState's); with
// FallbackToLogsOnError a failed container without one gets its log's
// tail; a message is cut at 4096 bytes.
func TestTerminationMessage(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel) // after the parallel subtests
	k := c.Client()
	const ns = "termination"
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	sh := func(name, script string, mutate ...func(*corev1.Container)) corev1.Container {
		ctr := corev1.Container{
			Name: name, Image: "busybox", Command: []string{"sh", "-c", script},
			Env:          []corev1.EnvVar{{Name: "MSG", Value: "/dev/termination-log"}, {Name: "WORK", Value: "/work"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}},
		}
		for _, m := range mutate {
			m(&ctr)
		}
		return ctr
	}
	fallback := func(ctr *corev1.Container) {
		ctr.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	// Another path, named in an argument: --report=<path>.
	asFlag := func(ctr *corev1.Container) {
		ctr.TerminationMessagePath = "/tmp/report.json"
		ctr.Command = append(ctr.Command, "sh", "--report="+ctr.TerminationMessagePath)
	}
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name    string
		ctr     corev1.Container
		policy  corev1.RestartPolicy
		code    int32
		msg     string
		lastMsg string // the run before's, after a restart
	}{
		{"the file", sh("report", `echo '{"keys":3}' > "$MSG"`), corev1.RestartPolicyNever, 0, `{"keys":3}` + "\n", ""},
		{"another path, as a flag's value", sh("flag", `printf done > "${1#--report=}"`, asFlag),
			corev1.RestartPolicyNever, 0, "done", ""},
		{"a failure's own message wins over the logs", sh("failfile", `echo noise; printf 'bad input' > "$MSG"; exit 3`, fallback),
			corev1.RestartPolicyNever, 3, "bad input", ""},
		{"a failure's log tail", sh("faillog", `for i in $(seq 1 100); do echo "line $i"; done; echo "fatal: disk full" >&2; exit 2`, fallback),
			corev1.RestartPolicyNever, 2, tail100(), ""},
		{"no fallback without the policy", sh("nofallback", `echo "fatal" >&2; exit 2`), corev1.RestartPolicyNever, 2, "", ""},
		{"no fallback on success", sh("okquiet", `echo "chatter"`, fallback), corev1.RestartPolicyNever, 0, "", ""},
		{"cut at 4096 bytes", sh("long", fmt.Sprintf(`printf %s > "$MSG"`, long)), corev1.RestartPolicyNever, 0, long[:4096], ""},
		{"a restart: each run its own", sh("again", `if [ -f "$WORK/ran" ]; then printf second > "$MSG"; exit 0; fi; `+
			`touch "$WORK/ran"; printf first > "$MSG"; exit 1`), corev1.RestartPolicyOnFailure, 0, "second", "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tt.ctr.Name},
				Spec: corev1.PodSpec{
					RestartPolicy: tt.policy, TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{tt.ctr},
					Volumes:    []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			}
			if err := k.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			var st corev1.ContainerStatus
			eventually(t, 30*time.Second, "pod "+pod.Name+" finished", func(ctx context.Context) error {
				var p corev1.Pod
				if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: pod.Name}, &p); err != nil {
					return err
				}
				if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed || len(p.Status.ContainerStatuses) != 1 {
					return fmt.Errorf("phase %s", p.Status.Phase)
				}
				st = p.Status.ContainerStatuses[0]
				return nil
			})
			term := st.State.Terminated
			if term == nil || term.ExitCode != tt.code || term.Message != tt.msg {
				t.Fatalf("terminated %+v, want exit code %d and message %q", term, tt.code, tt.msg)
			}
			last := st.LastTerminationState.Terminated
			if tt.lastMsg != "" && (last == nil || last.Message != tt.lastMsg) || tt.lastMsg == "" && last != nil {
				t.Errorf("last state %+v, want message %q", last, tt.lastMsg)
			}
		})
	}
}

// tail100 is the log tail of the faillog container: its last 80 lines.
func tail100() string {
	var b strings.Builder
	for i := 22; i <= 100; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String() + "fatal: disk full\n"
}
