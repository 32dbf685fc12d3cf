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

// secured are settings with TLS and auth on.
var secured = podSettings{Image: "yzma:1.0", ClusterDomain: "cluster.local", ConfigHash: "h1", TLSSecret: "db-tls", AuthSecret: "db-auth"}

func envValue(env []corev1.EnvVar, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return env[i], true
}

func TestStatefulSetBuilder(t *testing.T) {
	tests := []struct {
		name     string
		c        *yzmav1.YzmaCluster
		s        podSettings
		replicas int32
		check    func(t *testing.T, sts *appsv1.StatefulSet)
	}{
		{"defaults, TLS and auth off", cluster(), settings, 3, func(t *testing.T, sts *appsv1.StatefulSet) {
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
			for _, name := range []string{"YZMA_TLS_CERT_FILE", "YZMA_TLS_CA_FILE", "YZMA_API_ADVERTISE_NAME", "YZMA_AUTH_TOKEN_FILE", "YZMA_GOSSIP_KEY_FILE"} {
				if e, ok := envValue(ctr.Env, name); ok {
					t.Errorf("%+v with TLS and auth off", e)
				}
			}
			if len(spec.Template.Spec.Volumes) != 1 || len(ctr.VolumeMounts) != 2 {
				t.Errorf("volumes %+v mounts %+v: want only tmp (and the claim's data)", spec.Template.Spec.Volumes, ctr.VolumeMounts)
			}
			if ctr.ReadinessProbe.HTTPGet.Path != "/readyz" || ctr.LivenessProbe.HTTPGet.Path != "/healthz" ||
				ctr.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP || ctr.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP {
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
		{"TLS and auth on", cluster(), secured, 3, func(t *testing.T, sts *appsv1.StatefulSet) {
			ps := sts.Spec.Template.Spec
			ctr := ps.Containers[0]
			for name, want := range map[string]string{
				"YZMA_TLS_CERT_FILE":      "/etc/yzma/tls/tls.crt",
				"YZMA_TLS_KEY_FILE":       "/etc/yzma/tls/tls.key",
				"YZMA_TLS_CA_FILE":        "/etc/yzma/tls/ca.crt",
				"YZMA_API_ADVERTISE_NAME": "$(POD_NAME).db-peers.$(POD_NAMESPACE).svc.cluster.local",
				"YZMA_AUTH_TOKEN_FILE":    "/etc/yzma/auth/tokens",
				"YZMA_PEER_TOKEN_FILE":    "/etc/yzma/auth/peer-tokens",
				"YZMA_GOSSIP_KEY_FILE":    "/etc/yzma/auth/gossip-keys",
			} {
				if e, _ := envValue(ctr.Env, name); e.Value != want {
					t.Errorf("%s = %q, want %q", name, e.Value, want)
				}
			}
			// $(POD_NAME) and $(POD_NAMESPACE) expand only if defined before.
			adv := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "YZMA_API_ADVERTISE_NAME" })
			if pod := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" }); pod > adv {
				t.Errorf("YZMA_API_ADVERTISE_NAME (%d) before POD_NAMESPACE (%d)", adv, pod)
			}
			wantVols := []corev1.Volume{
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "yzma-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-tls", DefaultMode: ptr.To[int32](0o440)}}},
				{Name: "yzma-auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-auth", DefaultMode: ptr.To[int32](0o440)}}},
			}
			if !reflect.DeepEqual(ps.Volumes, wantVols) {
				t.Errorf("volumes %+v, want %+v", ps.Volumes, wantVols)
			}
			wantMounts := []corev1.VolumeMount{
				{Name: "data", MountPath: "/var/lib/yzma"},
				{Name: "tmp", MountPath: "/tmp"},
				{Name: "yzma-tls", MountPath: "/etc/yzma/tls", ReadOnly: true},
				{Name: "yzma-auth", MountPath: "/etc/yzma/auth", ReadOnly: true},
			}
			if !reflect.DeepEqual(ctr.VolumeMounts, wantMounts) {
				t.Errorf("mounts %+v, want %+v", ctr.VolumeMounts, wantMounts)
			}
			// The files are readable by the node's group: the pod's fsGroup.
			if psc := ps.SecurityContext; *psc.FSGroup != nodeUID || *psc.RunAsGroup != nodeUID {
				t.Errorf("pod security context %+v: the node's group must own the Secret files", psc)
			}
			if ctr.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS || ctr.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("probes %+v %+v, want HTTPS", ctr.ReadinessProbe.HTTPGet, ctr.LivenessProbe.HTTPGet)
			}
		}},
		{"TLS only", cluster(), podSettings{Image: "x", ClusterDomain: "example.org", TLSSecret: "mine"}, 3, func(t *testing.T, sts *appsv1.StatefulSet) {
			ctr := sts.Spec.Template.Spec.Containers[0]
			if e, _ := envValue(ctr.Env, "YZMA_API_ADVERTISE_NAME"); e.Value != "$(POD_NAME).db-peers.$(POD_NAMESPACE).svc.example.org" {
				t.Errorf("advertise name %q", e.Value)
			}
			if _, ok := envValue(ctr.Env, "YZMA_AUTH_TOKEN_FILE"); ok || len(ctr.VolumeMounts) != 3 || ctr.VolumeMounts[2].Name != "yzma-tls" {
				t.Errorf("env %+v mounts %+v: want TLS without auth", ctr.Env, ctr.VolumeMounts)
			}
			if v := sts.Spec.Template.Spec.Volumes; len(v) != 2 || v[1].Secret.SecretName != "mine" {
				t.Errorf("volumes %+v", v)
			}
		}},
		{"auth only", cluster(), podSettings{Image: "x", ClusterDomain: "cluster.local", AuthSecret: "mine"}, 3, func(t *testing.T, sts *appsv1.StatefulSet) {
			ctr := sts.Spec.Template.Spec.Containers[0]
			if _, ok := envValue(ctr.Env, "YZMA_TLS_CERT_FILE"); ok || len(ctr.VolumeMounts) != 3 || ctr.VolumeMounts[2].Name != "yzma-auth" {
				t.Errorf("env %+v mounts %+v: want auth without TLS", ctr.Env, ctr.VolumeMounts)
			}
			if ctr.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP {
				t.Errorf("probe scheme %q without TLS", ctr.ReadinessProbe.HTTPGet.Scheme)
			}
		}},
		{"customised", cluster(func(c *yzmav1.YzmaCluster) {
			c.Spec.Image = "registry.example/yzma:2"
			c.Spec.ImagePullPolicy = corev1.PullAlways
			c.Spec.Ports = yzmav1.Ports{HTTP: 9000, Gossip: 9001}
			c.Spec.Storage = yzmav1.Storage{Size: resource.MustParse("5Gi"), StorageClassName: ptr.To("fast")}
			c.Spec.Persistence = yzmav1.Persistence{ScaleDownPolicy: yzmav1.PVCRetain, DeletePolicy: yzmav1.PVCDelete}
			c.Spec.PodTemplate = yzmav1.PodTemplate{
				Labels: map[string]string{"team": "a", labelInstance: "spoofed"}, Annotations: map[string]string{"note": "x"},
				NodeSelector: map[string]string{"disk": "ssd"}, Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			}
		}), secured, 5, func(t *testing.T, sts *appsv1.StatefulSet) {
			ctr := sts.Spec.Template.Spec.Containers[0]
			if ctr.Image != "registry.example/yzma:2" || ctr.ImagePullPolicy != corev1.PullAlways || ctr.Ports[0].ContainerPort != 9000 || ctr.Ports[1].ContainerPort != 9001 {
				t.Errorf("container %+v", ctr)
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
			s := tt.s
			s.Image = nodeImage(tt.c, nil, tt.s.Image)
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
	secretVol := yzmav1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "my-secret"}}}
	c := cluster(func(c *yzmav1.YzmaCluster) {
		c.Spec.PodTemplate = yzmav1.PodTemplate{
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "regcred"}},
			PriorityClassName:  "high",
			ServiceAccountName: "yzma-node",
			Env: []corev1.EnvVar{
				{Name: "YZMA_MAX_BODY_BYTES", Value: "2097152"},
				{Name: "YZMA_API_BIND", Value: ":1"},                   // the operator's: skipped
				{Name: "POD_IP", Value: "10.0.0.1"},                    // the operator's: skipped
				{Name: "YZMA_AUTH_TOKEN_FILE", Value: "/dev/null"},     // the operator's: skipped
				{Name: "YZMA_TLS_CA_FILE", Value: "/etc/ssl/certs/ca"}, // the operator's: skipped
				{Name: "EXTRA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			},
			Volumes: []yzmav1.Volume{
				secretVol,
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},      // skipped
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},       // skipped
				{Name: "yzma-tls", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},  // skipped
				{Name: "yzma-auth", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, // skipped
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "extra", MountPath: "/etc/yzma/extra", ReadOnly: true},
				{Name: "extra", MountPath: "/var/lib/yzma"},         // skipped
				{Name: "extra", MountPath: "/var/lib/yzma/x/"},      // skipped
				{Name: "extra", MountPath: "/tmp/"},                 // skipped
				{Name: "extra", MountPath: "/etc/yzma/tls"},         // skipped
				{Name: "extra", MountPath: "/etc/yzma/auth/x"},      // skipped
				{Name: "extra", MountPath: "/etc/yzma/../yzma/tls"}, // skipped
				{Name: "extra", MountPath: "/var/lib/yzma-extra"},
			},
		}
	})
	base := statefulSet(cluster(), 3, 3, secured).Spec.Template.Spec
	ps := statefulSet(c, 3, 3, secured).Spec.Template.Spec
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
	if ctr.Env[n].Name != "YZMA_MAX_BODY_BYTES" || ctr.Env[n+1].Name != "EXTRA" || ctr.Env[n+1].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("extra env %+v", ctr.Env[n:])
	}
	if e, _ := envValue(ctr.Env, "YZMA_API_BIND"); e.Value != ":8080" {
		t.Errorf("YZMA_API_BIND %q: the operator's value must win", e.Value)
	}
	if e, _ := envValue(ctr.Env, "YZMA_AUTH_TOKEN_FILE"); e.Value != "/etc/yzma/auth/tokens" {
		t.Errorf("YZMA_AUTH_TOKEN_FILE %+v: the operator's file must win", e)
	}

	wantVols := append(slices.Clone(base.Volumes), corev1.Volume{Name: "extra", VolumeSource: secretVol.VolumeSource})
	if !reflect.DeepEqual(ps.Volumes, wantVols) {
		t.Errorf("volumes %+v, want %+v", ps.Volumes, wantVols)
	}
	wantMounts := append(slices.Clone(baseCtr.VolumeMounts),
		corev1.VolumeMount{Name: "extra", MountPath: "/etc/yzma/extra", ReadOnly: true},
		corev1.VolumeMount{Name: "extra", MountPath: "/var/lib/yzma-extra"})
	if !reflect.DeepEqual(ctr.VolumeMounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", ctr.VolumeMounts, wantMounts)
	}
	// The builder copies: changing the spec afterwards leaves the pod spec.
	c.Spec.PodTemplate.Volumes[0].Secret.SecretName = "changed"
	c.Spec.PodTemplate.Env[0].Value = "changed"
	if ps.Volumes[len(base.Volumes)].Secret.SecretName != "my-secret" || ctr.Env[n].Value != "2097152" {
		t.Error("the pod spec shares the spec's volumes or env")
	}
}

// TestReservedEnvMatchesCRD keeps three lists in step: the variables
// nodeEnv sets, reservedEnv, and the names the generated CRD's CEL rule on
// podTemplate.env rejects.
func TestReservedEnvMatchesCRD(t *testing.T) {
	var set []string
	for _, e := range nodeEnv(cluster(), secured) {
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
	sec := func(name string, kv ...string) *mountedSecret {
		m := &mountedSecret{Name: name, Data: map[string][]byte{}}
		for i := 0; i < len(kv); i += 2 {
			m.Data[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name string
		a, b nodeSecrets
		same bool
	}{
		{"none", nodeSecrets{}, nodeSecrets{}, true},
		{"same auth", nodeSecrets{Auth: sec("a", "tokens", "x")}, nodeSecrets{Auth: sec("a", "tokens", "x")}, true},
		{"edited token", nodeSecrets{Auth: sec("a", "tokens", "x")}, nodeSecrets{Auth: sec("a", "tokens", "y")}, false},
		{"another key", nodeSecrets{Auth: sec("a", "tokens", "x")}, nodeSecrets{Auth: sec("a", "tokens", "x", "gossip-keys", "k")}, false},
		{"another Secret", nodeSecrets{Auth: sec("a", "tokens", "x")}, nodeSecrets{Auth: sec("b", "tokens", "x")}, false},
		{"auth or TLS", nodeSecrets{Auth: sec("a", "tokens", "x")}, nodeSecrets{TLS: sec("a", "tokens", "x")}, false},
		{"renewed certificate", nodeSecrets{TLS: sec("t", "tls.crt", "1")}, nodeSecrets{TLS: sec("t", "tls.crt", "2")}, false},
		{"on or off", nodeSecrets{}, nodeSecrets{TLS: sec("t")}, false},
		{"key moved to another", nodeSecrets{Auth: sec("a", "tokens", "xy")}, nodeSecrets{Auth: sec("a", "tokens", "x", "y", "")}, false},
	}
	for _, tt := range tests {
		if got := tt.a.hash() == tt.b.hash(); got != tt.same {
			t.Errorf("%s: hash(a) == hash(b): %v, want %v", tt.name, got, tt.same)
		}
	}
	// mounted keeps only the keys the nodes read.
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "u"}, Data: map[string][]byte{"tokens": []byte("x"), "note": []byte("n")}}
	if m := mounted(s, authKeys); m.Name != "u" || len(m.Data) != 1 || string(m.Data["tokens"]) != "x" {
		t.Errorf("mounted %+v, want only tokens", m)
	}
	s.Data["note"] = []byte("changed")
	if (nodeSecrets{Auth: mounted(s, authKeys)}).hash() != (nodeSecrets{Auth: sec("u", "tokens", "x")}).hash() {
		t.Error("a key the nodes do not read changes the hash")
	}
}

func TestTargetCarriesCredentials(t *testing.T) {
	p := &pass{c: cluster(), clusterDomain: "cluster.local", pods: map[string]*corev1.Pod{
		"db-1": {Status: corev1.PodStatus{PodIP: "10.0.0.2"}},
	}}
	if got := p.target("db-1"); !reflect.DeepEqual(got, Target{Namespace: "ns", Pod: "db-1", IP: "10.0.0.2", Port: 8080}) {
		t.Errorf("without TLS and auth: %+v", got)
	}
	p.secrets = nodeSecrets{
		TLS:  &mountedSecret{Name: "db-tls", Data: map[string][]byte{caCertKey: []byte("CA")}},
		Auth: &mountedSecret{Name: "db-auth", Data: map[string][]byte{authTokensKey: []byte("# admin\nro r0\nrw w1\nrw w2\n")}},
	}
	got := p.target("db-1")
	if got.Token != "w1" || string(got.CA) != "CA" || got.ServerName != "db-1.db-peers.ns.svc.cluster.local" || got.IP != "10.0.0.2" {
		t.Errorf("with TLS and auth: %+v", got)
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
