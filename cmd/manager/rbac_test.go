package main

import (
	"os"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/yzma/yzma/internal/kubetest"
)

// The manager's permissions as installed: config/rbac/role.yaml (generated
// from the +kubebuilder:rbac markers by `make manifests`), config/default
// (every namespace) and config/namespaced (one namespace, Roles only).

const (
	managerRole        = "yzma-manager-role"
	managerRoleBinding = "yzma-manager-rolebinding"
	managerSA          = "yzma-controller-manager"
	managerNS          = "yzma-system"
)

// secretVerbsWanted are the manager's verbs on Secrets: it reads them by
// name, creates the ones it generates and updates the certificate it
// renews; it neither lists nor watches them (nothing caches them), nor
// patches or deletes them (generated ones go with their cluster).
var secretVerbsWanted = []string{"create", "get", "update"}

// TestGeneratedRoleSecretVerbs: the manager reads, creates and updates
// Secrets by name, and neither lists nor watches them.
func TestGeneratedRoleSecretVerbs(t *testing.T) {
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := kubetest.DecodeAll(t, "config/rbac/role.yaml", raw)
	if len(objs) != 1 || objs[0].GetKind() != "ClusterRole" {
		t.Fatalf("config/rbac/role.yaml: want one ClusterRole, got %d objects", len(objs))
	}
	var role rbacv1.ClusterRole
	convert(t, objs[0], &role)
	if got := secretVerbs(role.Rules); !slices.Equal(got, secretVerbsWanted) {
		t.Errorf("config/rbac/role.yaml grants %v on secrets, want %v", got, secretVerbsWanted)
	}
}

// TestGeneratedRoleBackupVerbs: the manager may run the backup and
// restore Jobs, read their pods' reports, and manage YzmaBackups (a
// schedule creates and deletes its backups) and their status.
func TestGeneratedRoleBackupVerbs(t *testing.T) {
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	convert(t, kubetest.DecodeAll(t, "config/rbac/role.yaml", raw)[0], &role)
	for _, tt := range []struct {
		group, resource string
		want            []string
	}{
		{"batch", "jobs", []string{"create", "get", "list", "watch"}},
		{"", "pods", []string{"get", "list"}},
		{"db.yzma.io", "yzmabackups", []string{"create", "delete", "get", "list", "watch"}},
		{"db.yzma.io", "yzmabackups/status", []string{"get", "update"}},
		{"events.k8s.io", "events", []string{"create", "patch"}},
	} {
		got := verbs(role.Rules, tt.group, tt.resource)
		for _, v := range tt.want {
			if !slices.Contains(got, v) {
				t.Errorf("config/rbac/role.yaml grants %v on %s %q, want %v among them", got, tt.resource, tt.group, tt.want)
				break
			}
		}
	}
}

// TestDefaultInstallWatchesAllNamespaces: config/default binds the
// generated ClusterRole and sets no WATCH_NAMESPACE.
func TestDefaultInstallWatchesAllNamespaces(t *testing.T) {
	objs := kubetest.Kustomize(t, "../../config/default")
	var role rbacv1.ClusterRole
	convert(t, find(t, objs, "ClusterRole", "", managerRole), &role)
	if got := secretVerbs(role.Rules); !slices.Equal(got, secretVerbsWanted) {
		t.Errorf("ClusterRole %s grants %v on secrets, want %v", managerRole, got, secretVerbsWanted)
	}
	var binding rbacv1.ClusterRoleBinding
	convert(t, find(t, objs, "ClusterRoleBinding", "", managerRoleBinding), &binding)
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != managerRole {
		t.Errorf("ClusterRoleBinding roleRef %+v", binding.RoleRef)
	}
	if v, ok := managerEnv(t, objs, "WATCH_NAMESPACE"); ok {
		t.Errorf("config/default sets WATCH_NAMESPACE=%q, want it unset (every namespace)", v)
	}
}

// TestNamespacedInstall: config/namespaced gives the manager nothing
// cluster-wide, the generated rules as a Role in the watched namespace,
// and WATCH_NAMESPACE naming that namespace.
func TestNamespacedInstall(t *testing.T) {
	objs := kubetest.Kustomize(t, "../../config/namespaced")

	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole":
			var cr rbacv1.ClusterRole
			convert(t, u, &cr)
			if got := secretVerbs(cr.Rules); len(got) > 0 {
				t.Errorf("ClusterRole %s grants %v on secrets", cr.Name, got)
			}
			if cr.Name == managerRole {
				t.Errorf("ClusterRole %s is still there", cr.Name)
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			convert(t, u, &b)
			for _, s := range b.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind && s.Name == managerSA {
					t.Errorf("ClusterRoleBinding %s binds the manager's ServiceAccount cluster-wide", b.Name)
				}
			}
		case "ConfigMap":
			if u.GetName() == "watch-namespace" {
				t.Error("the local-config ConfigMap watch-namespace is in the output")
			}
		}
	}
	if n := len(kubetest.Find(objs, "CustomResourceDefinition", "")); n != 2 {
		t.Errorf("%d CRDs, want 2 (YzmaCluster, YzmaBackup)", n)
	}

	roles := kubetest.Find(objs, "Role", managerRole)
	if len(roles) != 1 {
		t.Fatalf("%d Roles %s, want 1", len(roles), managerRole)
	}
	var role rbacv1.Role
	convert(t, roles[0], &role)
	watched := role.Namespace
	if watched == "" || watched == managerNS {
		t.Fatalf("Role %s in namespace %q, want the watched namespace", managerRole, watched)
	}
	if got := secretVerbs(role.Rules); !slices.Equal(got, secretVerbsWanted) {
		t.Errorf("Role %s grants %v on secrets, want %v", managerRole, got, secretVerbsWanted)
	}
	// The rules are the generated ones, not a copy that could drift.
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var generated rbacv1.ClusterRole
	convert(t, kubetest.DecodeAll(t, "config/rbac/role.yaml", raw)[0], &generated)
	if !reflect.DeepEqual(role.Rules, generated.Rules) {
		t.Errorf("Role rules differ from config/rbac/role.yaml:\n%+v\n%+v", role.Rules, generated.Rules)
	}

	var binding rbacv1.RoleBinding
	convert(t, find(t, objs, "RoleBinding", watched, managerRoleBinding), &binding)
	if binding.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: managerRole}) {
		t.Errorf("RoleBinding roleRef %+v, want Role %s", binding.RoleRef, managerRole)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != rbacv1.ServiceAccountKind ||
		binding.Subjects[0].Name != managerSA || binding.Subjects[0].Namespace != managerNS {
		t.Errorf("RoleBinding subjects %+v, want ServiceAccount %s/%s", binding.Subjects, managerNS, managerSA)
	}

	if v, ok := managerEnv(t, objs, "WATCH_NAMESPACE"); !ok || v != watched {
		t.Errorf("manager WATCH_NAMESPACE=%q (set %v), want %q", v, ok, watched)
	}
	if ns, err := parseNamespaces(watched); err != nil || !slices.Equal(ns, []string{watched}) {
		t.Errorf("parseNamespaces(%q) = %v, %v", watched, ns, err)
	}
	// Leader election stays in the manager's namespace.
	find(t, objs, "Role", managerNS, "yzma-leader-election-role")
}

// secretVerbs returns the verbs rules grant on core Secrets, sorted.
func secretVerbs(rules []rbacv1.PolicyRule) []string { return verbs(rules, "", "secrets") }

// verbs returns the verbs rules grant on resource of group, sorted.
func verbs(rules []rbacv1.PolicyRule, group, resource string) []string {
	var out []string
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) {
			out = append(out, r.Verbs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// managerEnv returns the value of the manager container's environment
// variable name, and whether it is set.
func managerEnv(t *testing.T, objs []*unstructured.Unstructured, name string) (string, bool) {
	t.Helper()
	var d appsv1.Deployment
	convert(t, find(t, objs, "Deployment", managerNS, "yzma-controller-manager"), &d)
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	if i < 0 {
		t.Fatal("no manager container")
	}
	for _, e := range d.Spec.Template.Spec.Containers[i].Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// find returns the one object of kind in namespace ns named name.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range kubetest.Find(objs, kind, name) {
		if u.GetNamespace() == ns {
			return u
		}
	}
	t.Fatalf("no %s %s/%s", kind, ns, name)
	return nil
}

// convert turns u into the typed obj.
func convert(t *testing.T, u *unstructured.Unstructured, obj any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}
