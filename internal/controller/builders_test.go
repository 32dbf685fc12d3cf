package controller

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// These tests need no API server.

func cluster(mutate ...func(*yzmav1.YzmaCluster)) *yzmav1.YzmaCluster {
	c := &yzmav1.YzmaCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", Generation: 2}}
	for _, m := range mutate {
		m(c)
	}
	return c
}

var settings = podSettings{DefaultImage: "yzma:1.0", ClusterDomain: "cluster.local", ConfigHash: "h1"}

func envValue(env []corev1.EnvVar, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return env[i], true
}

func TestStatefulSetBuilder(t *testing.T) {
	token := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tok"}, Key: "t"}
	tests := []struct {
		name     string
		c        *yzmav1.YzmaCluster
		replicas int32
		check    func(t *testing.T, sts *appsv1.StatefulSet)
	}{
		{"defaults", cluster(), 3, func(t *testing.T, sts *appsv1.StatefulSet) {
			spec := sts.Spec
			ctr := spec.Template.Spec.Containers[0]
			if *spec.Replicas != 3 || spec.ServiceName != "db-peers" || spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
				t.Errorf("replicas %d service %q policy %q", *spec.Replicas, spec.ServiceName, spec.PodManagementPolicy)
			}
			if ctr.Image != "yzma:1.0" || ctr.ImagePullPolicy != corev1.PullIfNotPresent || !slices.Equal(ctr.Command, []string{"/node"}) {
				t.Errorf("container image %q pull %q command %v", ctr.Image, ctr.ImagePullPolicy, ctr.Command)
			}
			for name, want := range map[string]string{
				"YZMA_PEERING_SEED_DNS":  "db-peers.$(POD_NAMESPACE).svc.cluster.local",
				"YZMA_PEERING_NAME":      "$(POD_NAME)",
				"YZMA_API_BIND":          ":8080",
				"YZMA_PEERING_BIND_PORT": "7946",
				"YZMA_DB_PATH":           "/var/lib/yzma/yzma.db",
			} {
				if e, _ := envValue(ctr.Env, name); e.Value != want {
					t.Errorf("%s = %q, want %q", name, e.Value, want)
				}
			}
			for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_IP": "status.podIP"} {
				if e, _ := envValue(ctr.Env, name); e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != path {
					t.Errorf("%s not from the downward API %s: %+v", name, path, e)
				}
			}
			if _, ok := envValue(ctr.Env, "YZMA_AUTH_TOKEN"); ok {
				t.Error("token env without a token Secret")
			}
			if ctr.ReadinessProbe.HTTPGet.Path != "/readyz" || ctr.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("probes %+v %+v", ctr.ReadinessProbe, ctr.LivenessProbe)
			}
			sc, psc := ctr.SecurityContext, spec.Template.Spec.SecurityContext
			if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*psc.RunAsNonRoot || *psc.FSGroup != nodeUID {
				t.Errorf("security contexts %+v %+v", sc, psc)
			}
			claim := spec.VolumeClaimTemplates[0]
			if claim.Name != "data" || claim.Spec.Resources.Requests.Storage().String() != "1Gi" || claim.Spec.StorageClassName != nil {
				t.Errorf("claim %+v", claim)
			}
			if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType ||
				p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("retention %+v", p)
			}
			if sts.Spec.Template.Annotations[annotationConfigHash] != "h1" {
				t.Errorf("config hash annotation %v", sts.Spec.Template.Annotations)
			}
		}},
		{"customised", cluster(func(c *yzmav1.YzmaCluster) {
			c.Spec.Image = "registry.example/yzma:2"
			c.Spec.ImagePullPolicy = corev1.PullAlways
			c.Spec.Ports = yzmav1.Ports{HTTP: 9000, Gossip: 9001}
			c.Spec.Storage = yzmav1.Storage{Size: resource.MustParse("5Gi"), StorageClassName: ptr.To("fast")}
			c.Spec.Persistence = yzmav1.Persistence{ScaleDownPolicy: yzmav1.PVCRetain, DeletePolicy: yzmav1.PVCDelete}
			c.Spec.APITokenSecret = token
			c.Spec.PodTemplate = yzmav1.PodTemplate{
				Labels: map[string]string{"team": "a", labelInstance: "spoofed"}, Annotations: map[string]string{"note": "x"},
				NodeSelector: map[string]string{"disk": "ssd"}, Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			}
		}), 5, func(t *testing.T, sts *appsv1.StatefulSet) {
			ctr := sts.Spec.Template.Spec.Containers[0]
			if ctr.Image != "registry.example/yzma:2" || ctr.ImagePullPolicy != corev1.PullAlways || ctr.Ports[0].ContainerPort != 9000 || ctr.Ports[1].ContainerPort != 9001 {
				t.Errorf("container %+v", ctr)
			}
			if e, _ := envValue(ctr.Env, "YZMA_AUTH_TOKEN"); e.ValueFrom == nil || *e.ValueFrom.SecretKeyRef != *token {
				t.Errorf("token env %+v", e)
			}
			if e, _ := envValue(ctr.Env, "YZMA_API_BIND"); e.Value != ":9000" {
				t.Errorf("API bind %q", e.Value)
			}
			l := sts.Spec.Template.Labels
			if l["team"] != "a" || l[labelInstance] != "db" {
				t.Errorf("pod labels %v: user labels kept, selector labels win", l)
			}
			ps := sts.Spec.Template.Spec
			if ps.NodeSelector["disk"] != "ssd" || len(ps.Tolerations) != 1 || sts.Spec.Template.Annotations["note"] != "x" {
				t.Errorf("pod template overrides lost: %+v", ps)
			}
			claim := sts.Spec.VolumeClaimTemplates[0]
			if claim.Spec.Resources.Requests.Storage().String() != "5Gi" || *claim.Spec.StorageClassName != "fast" {
				t.Errorf("claim %+v", claim.Spec)
			}
			if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				p.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				t.Errorf("retention %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, statefulSet(tt.c, tt.replicas, settings)) })
	}
}

func TestConfigHashFollowsSecrets(t *testing.T) {
	tests := []struct {
		a, b nodeSecrets
		same bool
	}{
		{nodeSecrets{}, nodeSecrets{}, true},
		{nodeSecrets{APIToken: "x"}, nodeSecrets{APIToken: "x"}, true},
		{nodeSecrets{APIToken: "x"}, nodeSecrets{APIToken: "y"}, false},
		{nodeSecrets{GossipKey: "x"}, nodeSecrets{APIToken: "x"}, false},
	}
	for _, tt := range tests {
		if got := tt.a.hash() == tt.b.hash(); got != tt.same {
			t.Errorf("hash(%+v) == hash(%+v): %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestServiceAndBudgetBuilders(t *testing.T) {
	c := cluster(func(c *yzmav1.YzmaCluster) { c.Spec.Ports.HTTP = 9000 })
	tests := []struct {
		name  string
		check func() error
	}{
		{"headless lists not-ready pods", func() error {
			s := headlessService(c)
			if s.Name != "db-peers" || s.Spec.ClusterIP != corev1.ClusterIPNone || !s.Spec.PublishNotReadyAddresses || len(s.Spec.Ports) != 3 {
				return fmt.Errorf("%+v", s)
			}
			return nil
		}},
		{"client service on the HTTP port", func() error {
			s := clientService(c)
			if s.Name != "db" || s.Spec.ClusterIP != "" || len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 9000 || s.Spec.Selector[labelInstance] != "db" {
				return fmt.Errorf("%+v", s)
			}
			return nil
		}},
		{"budget of one", func() error {
			p := podDisruptionBudget(c)
			if p.Spec.MaxUnavailable.IntValue() != 1 || p.Spec.Selector.MatchLabels[labelInstance] != "db" {
				return fmt.Errorf("%+v", p.Spec)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPodOrdinal(t *testing.T) {
	c := cluster()
	tests := []struct {
		name string
		want int32
		ok   bool
	}{
		{"db-0", 0, true}, {"db-12", 12, true}, {"db-", 0, false}, {"db-x", 0, false},
		{"other-1", 0, false}, {"db-peers-1", 0, false}, {"db--1", 0, false},
	}
	for _, tt := range tests {
		if got, ok := podOrdinal(c, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("podOrdinal(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLeaveBackoff(t *testing.T) {
	tests := []struct {
		attempts int32
		want     time.Duration
	}{{0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {6, 2 * time.Minute}, {50, 2 * time.Minute}}
	for _, tt := range tests {
		if got := leaveBackoff(tt.attempts); got != tt.want {
			t.Errorf("leaveBackoff(%d) = %s, want %s", tt.attempts, got, tt.want)
		}
	}
}

func TestSetStatus(t *testing.T) {
	stable := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 1},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3,
			CurrentRevision: "a", UpdateRevision: "a"},
	}
	rolling := stable.DeepCopy()
	rolling.Status.UpdateRevision = "b"
	rolling.Status.ReadyReplicas = 2
	tests := []struct {
		name      string
		sts       *appsv1.StatefulSet
		scaleDown *yzmav1.ScaleDown
		err       error
		phase     string
		observed  bool
	}{
		{"no statefulset yet", nil, nil, nil, "Progressing", true},
		{"stable", stable, nil, nil, "Available", true},
		{"rolling out", rolling, nil, nil, "Progressing", true},
		{"scaling down", stable, &yzmav1.ScaleDown{Pod: "db-2", Phase: yzmav1.PhaseLeaving}, nil, "ScalingDown", true},
		{"leave failed", stable, &yzmav1.ScaleDown{Pod: "db-2", Phase: yzmav1.PhaseLeaving, LastError: "503"}, nil, "Degraded", false},
		{"secret missing", stable, nil, fmt.Errorf("x: %w", ErrSecret), "Degraded", false},
		{"api error", stable, nil, errors.New("boom"), "Degraded", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(func(c *yzmav1.YzmaCluster) { c.Status.ScaleDown = tt.scaleDown })
			setStatus(c, tt.sts, tt.err)
			if c.Status.Phase != tt.phase {
				t.Errorf("phase %q, want %q; conditions %+v", c.Status.Phase, tt.phase, c.Status.Conditions)
			}
			if got := c.Status.ObservedGeneration == c.Generation; got != tt.observed {
				t.Errorf("observedGeneration %d (generation %d)", c.Status.ObservedGeneration, c.Generation)
			}
			if c.Status.Selector != "app.kubernetes.io/instance=db,app.kubernetes.io/name=yzma" {
				t.Errorf("selector %q", c.Status.Selector)
			}
			for _, typ := range []string{yzmav1.ConditionAvailable, yzmav1.ConditionProgressing, yzmav1.ConditionDegraded} {
				if meta.FindStatusCondition(c.Status.Conditions, typ) == nil {
					t.Errorf("no %s condition", typ)
				}
			}
		})
	}
}
