package controller

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

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

var settings = podSettings{Image: "yzma:1.0", ClusterDomain: "cluster.local", ConfigHash: "h1"}

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
		t.Run(tt.name, func(t *testing.T) {
			s := settings
			s.Image = nodeImage(tt.c, nil, settings.Image)
			tt.check(t, statefulSet(tt.c, tt.replicas, tt.replicas, s))
		})
	}
}

func TestPlacement(t *testing.T) {
	user := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
	}}}
	spread := []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelInstance: "db"}}}}
	tests := []struct {
		name         string
		pt           yzmav1.PodTemplate
		wantDefault  bool // the preferred anti-affinity
		wantAffinity *corev1.Affinity
		wantSpread   []corev1.TopologySpreadConstraint
	}{
		{"nothing set: preferred anti-affinity", yzmav1.PodTemplate{}, true, nil, nil},
		{"other settings keep the default", yzmav1.PodTemplate{NodeSelector: map[string]string{"disk": "ssd"}}, true, nil, nil},
		{"user affinity replaces it", yzmav1.PodTemplate{Affinity: user}, false, user, nil},
		{"spread constraints replace it", yzmav1.PodTemplate{TopologySpreadConstraints: spread}, false, nil, spread},
		{"both set: both kept", yzmav1.PodTemplate{Affinity: user, TopologySpreadConstraints: spread}, false, user, spread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := statefulSet(cluster(func(c *yzmav1.YzmaCluster) { c.Spec.PodTemplate = tt.pt }), 3, 3, settings).Spec.Template.Spec
			if !reflect.DeepEqual(ps.TopologySpreadConstraints, tt.wantSpread) {
				t.Errorf("spread %+v, want %+v", ps.TopologySpreadConstraints, tt.wantSpread)
			}
			if !tt.wantDefault {
				if !reflect.DeepEqual(ps.Affinity, tt.wantAffinity) {
					t.Errorf("affinity %+v, want the user's %+v", ps.Affinity, tt.wantAffinity)
				}
				return
			}
			a := ps.Affinity
			if a == nil || a.PodAntiAffinity == nil || a.NodeAffinity != nil || a.PodAffinity != nil ||
				len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 ||
				len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
				t.Fatalf("want one preferred (never required) pod anti-affinity, got %+v", a)
			}
			w := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]
			if w.Weight != 100 || w.PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" ||
				!reflect.DeepEqual(w.PodAffinityTerm.LabelSelector.MatchLabels, selectorLabels(cluster())) {
				t.Errorf("anti-affinity term %+v", w)
			}
		})
	}
}

func TestPodTemplateExtras(t *testing.T) {
	secretVol := yzmav1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-tls"}}}
	c := cluster(func(c *yzmav1.YzmaCluster) {
		c.Spec.APITokenSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tok"}, Key: "t"}
		c.Spec.PodTemplate = yzmav1.PodTemplate{
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "regcred"}},
			PriorityClassName:  "high",
			ServiceAccountName: "yzma-node",
			Env: []corev1.EnvVar{
				{Name: "YZMA_TLS_CERT_FILE", Value: "/etc/yzma/tls/tls.crt"},
				{Name: "YZMA_API_BIND", Value: ":1"},     // the operator's: skipped
				{Name: "POD_IP", Value: "10.0.0.1"},      // the operator's: skipped
				{Name: "YZMA_AUTH_TOKEN", Value: "open"}, // the operator's: skipped
				{Name: "EXTRA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			},
			Volumes: []yzmav1.Volume{
				secretVol,
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, // skipped
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},  // skipped
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "tls", MountPath: "/etc/yzma/tls", ReadOnly: true},
				{Name: "tls", MountPath: "/var/lib/yzma"},    // skipped
				{Name: "tls", MountPath: "/var/lib/yzma/x/"}, // skipped
				{Name: "tls", MountPath: "/tmp/"},            // skipped
				{Name: "tls", MountPath: "/var/lib/yzma-extra"},
			},
		}
	})
	base := statefulSet(cluster(func(b *yzmav1.YzmaCluster) { b.Spec.APITokenSecret = c.Spec.APITokenSecret }), 3, 3, settings).Spec.Template.Spec
	ps := statefulSet(c, 3, 3, settings).Spec.Template.Spec
	ctr, baseCtr := ps.Containers[0], base.Containers[0]

	if !reflect.DeepEqual(ps.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "regcred"}}) || ps.PriorityClassName != "high" || ps.ServiceAccountName != "yzma-node" {
		t.Errorf("pull secrets %v, priority class %q, service account %q", ps.ImagePullSecrets, ps.PriorityClassName, ps.ServiceAccountName)
	}
	if base.ImagePullSecrets != nil || base.PriorityClassName != "" || base.ServiceAccountName != "" {
		t.Errorf("defaults: pull secrets %v, priority class %q, service account %q", base.ImagePullSecrets, base.PriorityClassName, base.ServiceAccountName)
	}

	// The operator's env first and unchanged, then the user's extra ones.
	n := len(baseCtr.Env)
	if len(ctr.Env) != n+2 || !reflect.DeepEqual(ctr.Env[:n], baseCtr.Env) {
		t.Fatalf("env %+v: want the operator's %d variables unchanged, then 2 extra", ctr.Env, n)
	}
	if ctr.Env[n].Name != "YZMA_TLS_CERT_FILE" || ctr.Env[n+1].Name != "EXTRA" || ctr.Env[n+1].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("extra env %+v", ctr.Env[n:])
	}
	if e, _ := envValue(ctr.Env, "YZMA_API_BIND"); e.Value != ":8080" {
		t.Errorf("YZMA_API_BIND %q: the operator's value must win", e.Value)
	}
	if e, _ := envValue(ctr.Env, "YZMA_AUTH_TOKEN"); e.ValueFrom == nil || e.Value != "" {
		t.Errorf("YZMA_AUTH_TOKEN %+v: the operator's Secret reference must win", e)
	}

	wantVols := append(slices.Clone(base.Volumes), corev1.Volume{Name: "tls", VolumeSource: secretVol.VolumeSource})
	if !reflect.DeepEqual(ps.Volumes, wantVols) {
		t.Errorf("volumes %+v, want %+v", ps.Volumes, wantVols)
	}
	wantMounts := append(slices.Clone(baseCtr.VolumeMounts),
		corev1.VolumeMount{Name: "tls", MountPath: "/etc/yzma/tls", ReadOnly: true},
		corev1.VolumeMount{Name: "tls", MountPath: "/var/lib/yzma-extra"})
	if !reflect.DeepEqual(ctr.VolumeMounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", ctr.VolumeMounts, wantMounts)
	}
	// The builder copies: changing the spec afterwards leaves the pod spec.
	c.Spec.PodTemplate.Volumes[0].Secret.SecretName = "changed"
	c.Spec.PodTemplate.Env[0].Value = "changed"
	if ps.Volumes[1].Secret.SecretName != "db-tls" || ctr.Env[n].Value != "/etc/yzma/tls/tls.crt" {
		t.Error("the pod spec shares the spec's volumes or env")
	}
}

// TestReservedEnvMatchesCRD keeps three lists in step: the variables
// nodeEnv sets, reservedEnv, and the names the generated CRD's CEL rule on
// podTemplate.env rejects.
func TestReservedEnvMatchesCRD(t *testing.T) {
	key := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}
	all := cluster(func(c *yzmav1.YzmaCluster) { c.Spec.GossipKeySecret, c.Spec.APITokenSecret = key, key })
	var set []string
	for _, e := range nodeEnv(all, settings) {
		set = append(set, e.Name)
	}
	slices.Sort(set)
	reserved := slices.Sorted(slices.Values(reservedEnv))
	if !slices.Equal(set, reserved) {
		t.Errorf("nodeEnv sets %v, reservedEnv is %v", set, reserved)
	}
	crd, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "db.yzma.io_yzmaclusters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties struct {
									PodTemplate struct {
										Properties struct {
											Env struct {
												Validations []struct{ Rule string } `json:"x-kubernetes-validations"`
											}
										}
									}
								}
							}
						}
					} `json:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(crd, &doc); err != nil || len(doc.Spec.Versions) != 1 {
		t.Fatalf("CRD: %v, %d versions", err, len(doc.Spec.Versions))
	}
	rules := doc.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Properties.PodTemplate.Properties.Env.Validations
	if len(rules) != 1 {
		t.Fatalf("want one CEL rule on podTemplate.env in the CRD (make manifests), got %+v", rules)
	}
	rule := rules[0].Rule
	if got := strings.Count(rule, "'"); got != 2*len(reservedEnv) {
		t.Errorf("the CRD rule names %d variables, reservedEnv %d: %s", got/2, len(reservedEnv), rule)
	}
	for _, name := range reservedEnv {
		if !strings.Contains(rule, "'"+name+"'") {
			t.Errorf("the CRD rule does not reject %s: %s", name, rule)
		}
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

func TestNodeImage(t *testing.T) {
	running := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "node", Image: "yzma:running"}},
	}}}}
	follow := func(c *yzmav1.YzmaCluster) {
		c.Annotations = map[string]string{yzmav1.AnnotationFollowOperatorImage: "true"}
	}
	spec := func(c *yzmav1.YzmaCluster) { c.Spec.Image = "yzma:spec" }
	recorded := func(c *yzmav1.YzmaCluster) { c.Status.Image = "yzma:recorded" }
	tests := []struct {
		name string
		c    *yzmav1.YzmaCluster
		sts  *appsv1.StatefulSet
		want string
	}{
		{"spec set", cluster(spec, follow, recorded), running, "yzma:spec"},
		{"spec set, nothing recorded", cluster(spec), nil, "yzma:spec"},
		{"annotation set", cluster(follow, recorded), running, "yzma:default"},
		{"annotation not true", cluster(recorded, func(c *yzmav1.YzmaCluster) {
			c.Annotations = map[string]string{yzmav1.AnnotationFollowOperatorImage: "false"}
		}), nil, "yzma:recorded"},
		{"recorded", cluster(recorded), running, "yzma:recorded"},
		{"nothing recorded, running", cluster(), running, "yzma:running"},
		{"first time", cluster(), nil, "yzma:default"},
	}
	for _, tt := range tests {
		if got := nodeImage(tt.c, tt.sts, "yzma:default"); got != tt.want {
			t.Errorf("%s: nodeImage = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSetStatusImage(t *testing.T) {
	c := cluster(func(c *yzmav1.YzmaCluster) { c.Status.Image = "yzma:1" })
	setStatus(c, nil, "", errors.New("boom"))
	if c.Status.Image != "yzma:1" {
		t.Errorf("image %q after a pass that applied none, want the recorded yzma:1", c.Status.Image)
	}
	setStatus(c, nil, "yzma:2", nil)
	if c.Status.Image != "yzma:2" {
		t.Errorf("image %q, want the applied yzma:2", c.Status.Image)
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
			setStatus(c, tt.sts, "", tt.err)
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
