package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podVolumes makes a host directory for every volume of pod, under podDir
// for those that live with the Pod, and returns them by volume name. An
// unbound claim or a missing Secret is a configError (the Pod waits).
func podVolumes(o objects, pod *corev1.Pod, podDir string) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		own := filepath.Join(podDir, "volumes", v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.MkdirAll(own, 0o755)
		case v.HostPath != nil:
			if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(v.HostPath.Path, 0o755)
			}
			own = v.HostPath.Path
		case v.PersistentVolumeClaim != nil:
			own, err = claimDir(o, v.PersistentVolumeClaim.ClaimName)
		case v.Secret != nil:
			err = writeKeys(own, o, "secret", v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional, o.secret)
		case v.ConfigMap != nil:
			err = writeKeys(own, o, "configmap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional, o.configMap)
		case v.DownwardAPI != nil:
			err = writeDownward(own, pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			err = writeProjected(own, o, pod, v.Projected)
		default:
			// Anything else (ephemeral, CSI…) gets an empty directory.
			err = os.MkdirAll(own, 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		dirs[v.Name] = own
	}
	return dirs, nil
}

// claimDir is the host directory of the volume bound to a claim.
func claimDir(o objects, claim string) (string, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := o.c.Get(o.ctx, types.NamespacedName{Namespace: o.ns, Name: claim}, &pvc); err != nil {
		return "", configErrorf("ContainerCreating", "persistentvolumeclaim %q: %v", claim, err)
	}
	if pvc.DeletionTimestamp != nil {
		return "", configErrorf("ContainerCreating", "persistentvolumeclaim %q is being deleted", claim)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", configErrorf("ContainerCreating", "persistentvolumeclaim %q is not bound yet", claim)
	}
	var pv corev1.PersistentVolume
	if err := o.c.Get(o.ctx, types.NamespacedName{Name: pvc.Spec.VolumeName}, &pv); err != nil {
		return "", configErrorf("ContainerCreating", "persistentvolume %q: %v", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o755)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q is neither hostPath nor local", pv.Name)
}

// writeKeys writes a Secret's or ConfigMap's keys (or the chosen items) as
// files into dir.
func writeKeys(dir string, o objects, kind, name string, items []corev1.KeyToPath, defMode *int32, optional *bool, get func(string) (map[string][]byte, error)) error {
	data, err := get(name)
	if err != nil {
		return err
	}
	if data == nil && (optional == nil || !*optional) {
		return configErrorf("ContainerCreating", "%s %q not found", kind, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := fileMode(defMode, nil)
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v, mode); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if data == nil {
				continue
			}
			return configErrorf("ContainerCreating", "key %q not in %s %q", it.Key, kind, name)
		}
		if err := writeFile(dir, it.Path, v, fileMode(defMode, it.Mode)); err != nil {
			return err
		}
	}
	return nil
}

func writeDownward(dir string, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return fmt.Errorf("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceValue(c, it.ResourceFieldRef)
		}
		if err != nil {
			return err
		}
		if err := writeFile(dir, it.Path, []byte(v), fileMode(defMode, it.Mode)); err != nil {
			return err
		}
	}
	return nil
}

func writeProjected(dir string, o objects, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range p.Sources {
		var err error
		switch {
		case s.Secret != nil:
			err = writeKeys(dir, o, "secret", s.Secret.Name, s.Secret.Items, p.DefaultMode, s.Secret.Optional, o.secret)
		case s.ConfigMap != nil:
			err = writeKeys(dir, o, "configmap", s.ConfigMap.Name, s.ConfigMap.Items, p.DefaultMode, s.ConfigMap.Optional, o.configMap)
		case s.DownwardAPI != nil:
			err = writeDownward(dir, pod, s.DownwardAPI.Items, p.DefaultMode)
		}
		// Service account tokens, cluster trust bundles and pod
		// certificates are not provided.
		if err != nil {
			return err
		}
	}
	return nil
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if c := &pod.Spec.Containers[i]; c.Name == name || name == "" {
			return c
		}
	}
	return nil
}

func fileMode(def, item *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item) & 0o777
	case def != nil:
		return os.FileMode(*def) & 0o777
	}
	return 0o644
}

// writeFile writes data to dir/rel (rel may have subdirectories but may
// not leave dir), replacing the file atomically.
func writeFile(dir, rel string, data []byte, mode os.FileMode) error {
	p := filepath.Join(dir, rel)
	if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
		return fmt.Errorf("path %q leaves the volume", rel)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	// Owner read access is kept even for modes such as 0400 or 0; the
	// process runs as the same user anyway.
	if err := os.WriteFile(tmp, data, mode|0o400); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode|0o400); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// containerMounts maps container c's volume mounts to host directories.
func containerMounts(c *corev1.Container, vols map[string]string, env *envList) (pathMap, error) {
	var m pathMap
	for _, vm := range c.VolumeMounts {
		host, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %s: no such volume", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, env.get)
		}
		if sub != "" {
			p := filepath.Join(host, sub)
			if !strings.HasPrefix(p, filepath.Clean(host)) {
				return nil, fmt.Errorf("volumeMount %s: subPath %q leaves the volume", vm.Name, sub)
			}
			if _, err := os.Stat(p); os.IsNotExist(err) {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return nil, err
				}
			}
			host = p
		}
		m.add(vm.MountPath, host)
	}
	return m, nil
}
