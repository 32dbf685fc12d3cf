package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yzma/yzma/internal/modroot"
)

func TestRootAndAssets(t *testing.T) {
	root, err := modroot.Find()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "kubetest", "kubetest.go")); err != nil {
		t.Errorf("Root %s is not the module's: %v", root, err)
	}
	dir, err := Assets()
	if err != nil || dir != filepath.Join(root, "bin", "k8s") {
		t.Errorf("Assets() = %q, %v; want %s/bin/k8s", dir, err, root)
	}
	if _, err := Assets("no-such-binary"); err == nil || !strings.Contains(err.Error(), "hack/k8s-bins.sh") {
		t.Errorf("Assets with a missing binary: %v, want the hint to build them", err)
	}
}

func TestDecodeAllAndFind(t *testing.T) {
	raw := []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
---
apiVersion: v1
kind: Secret
metadata: {name: a}
`)
	objs := DecodeAll(t, "stream", raw)
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3 (the empty document skipped)", len(objs))
	}
	if got := Find(objs, "ConfigMap", ""); len(got) != 2 || got[0].GetName() != "a" || got[1].GetName() != "b" {
		t.Errorf("Find ConfigMap: %v", got)
	}
	if got := Find(objs, "ConfigMap", "b"); len(got) != 1 || got[0] != objs[1] {
		t.Errorf("Find ConfigMap b: %v", got)
	}
	if got := Find(objs, "Pod", ""); len(got) != 0 {
		t.Errorf("Find Pod: %v", got)
	}
}

func TestKustomize(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "namespace: ns\nresources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs := Kustomize(t, dir)
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" || objs[0].GetNamespace() != "ns" {
		t.Errorf("objects %v, want the ConfigMap in namespace ns", objs)
	}
}
