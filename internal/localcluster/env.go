package localcluster

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// expand replaces $(NAME) by lookup(NAME) as Kubernetes does: an unknown
// name stays as written, "$$" is a literal "$".
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envList is an ordered environment where a later value replaces an
// earlier one in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(name, value string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[name]; !ok {
		e.names = append(e.names, name)
	}
	e.vals[name] = value
}

func (e *envList) get(name string) (string, bool) {
	v, ok := e.vals[name]
	return v, ok
}

func (e *envList) environ() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.vals[n])
	}
	return out
}

// configError is a problem with a Pod's configuration that may go away
// (a missing Secret), shown as the container's waiting reason.
type configError struct {
	reason string
	err    error
}

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func configErrorf(reason, format string, args ...any) error {
	return &configError{reason: reason, err: fmt.Errorf(format, args...)}
}

// objects fetches the Secrets and ConfigMaps a Pod refers to, straight
// from the API server (the kubelet does not cache every Secret).
type objects struct {
	ctx context.Context
	c   client.Reader
	ns  string
}

// secret returns the Secret's data, nil when it does not exist.
func (o objects) secret(name string) (map[string][]byte, error) {
	var s corev1.Secret
	err := o.c.Get(o.ctx, types.NamespacedName{Namespace: o.ns, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}

// configMap returns the ConfigMap's data and binary data, nil when it does
// not exist.
func (o objects) configMap(name string) (map[string][]byte, error) {
	var cm corev1.ConfigMap
	err := o.c.Get(o.ctx, types.NamespacedName{Namespace: o.ns, Name: name}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return data, nil
}

// fieldValue resolves a downward API fieldPath for pod, whose status
// already carries its IP.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations as the downward API does.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return b.String()
}

// hostMemory is what a container without a memory limit sees as its limit.
const hostMemory = 8 << 30

// resourceValue resolves a resourceFieldRef of container c: limits fall
// back to the node's capacity, requests to the limits.
func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || kind != "limits" && kind != "requests" {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	q, ok := c.Resources.Limits[corev1.ResourceName(name)]
	if kind == "requests" {
		if r, rok := c.Resources.Requests[corev1.ResourceName(name)]; rok {
			q, ok = r, true
		}
	}
	if !ok {
		switch name {
		case "cpu":
			q = *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)
		case "memory", "ephemeral-storage":
			q = *resource.NewQuantity(hostMemory, resource.BinarySI)
		default:
			q = resource.Quantity{}
		}
	}
	div := ref.Divisor
	if div.IsZero() {
		div = *resource.NewQuantity(1, resource.DecimalSI)
	}
	v := math.Ceil(q.AsApproximateFloat64() / div.AsApproximateFloat64())
	return strconv.FormatInt(int64(v), 10), nil
}

// containerEnv builds a container's environment: base (PATH, HOME…) and
// injected variables, then envFrom, then env, each with $(VAR) expansion
// over what came before.
func containerEnv(o objects, pod *corev1.Pod, c *corev1.Container, base [][2]string) (*envList, error) {
	env := &envList{}
	for _, kv := range base {
		env.set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		var data map[string][]byte
		var err error
		var kind, name string
		var optional bool
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configmap", from.ConfigMapRef.Name
			optional = from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			data, err = o.configMap(name)
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			optional = from.SecretRef.Optional != nil && *from.SecretRef.Optional
			data, err = o.secret(name)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if data == nil {
			if optional {
				continue
			}
			return nil, configErrorf("CreateContainerConfigError", "%s %q not found", kind, name)
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env.set(from.Prefix+k, string(data[k]))
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, expand(e.Value, env.get))
			continue
		}
		v, skip, err := envValueFrom(o, pod, c, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			env.set(e.Name, v)
		}
	}
	return env, nil
}

// envValueFrom resolves one valueFrom; skip reports an optional reference
// to something missing.
func envValueFrom(o objects, pod *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource) (v string, skip bool, err error) {
	keyRef := func(kind, name, key string, optional *bool, get func(string) (map[string][]byte, error)) (string, bool, error) {
		data, err := get(name)
		if err != nil {
			return "", false, err
		}
		val, ok := data[key]
		if !ok {
			if optional != nil && *optional {
				return "", true, nil
			}
			if data == nil {
				return "", false, configErrorf("CreateContainerConfigError", "%s %q not found", kind, name)
			}
			return "", false, configErrorf("CreateContainerConfigError", "key %q not in %s %q", key, kind, name)
		}
		return string(val), false, nil
	}
	switch {
	case vf.FieldRef != nil:
		v, err = fieldValue(pod, vf.FieldRef.FieldPath)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err = resourceValue(c, vf.ResourceFieldRef)
		return v, false, err
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		return keyRef("secret", r.Name, r.Key, r.Optional, o.secret)
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		return keyRef("configmap", r.Name, r.Key, r.Optional, o.configMap)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// pathMap maps mount paths to host directories, longest first.
type pathMap []struct{ mount, host string }

func (m *pathMap) add(mount, host string) {
	mount = filepath.Clean(mount)
	if mount == "/" || mount == "." {
		return
	}
	*m = append(*m, struct{ mount, host string }{mount, host})
	sort.SliceStable(*m, func(i, j int) bool { return len((*m)[i].mount) > len((*m)[j].mount) })
}

// rewrite maps s when it is a mount path or below one, also in the
// "--flag=/path" form.
func (m pathMap) rewrite(s string) string {
	if r, ok := m.rewritePath(s); ok {
		return r
	}
	if name, val, ok := strings.Cut(s, "="); ok && strings.HasPrefix(name, "-") {
		if r, ok := m.rewritePath(val); ok {
			return name + "=" + r
		}
	}
	return s
}

func (m pathMap) rewritePath(s string) (string, bool) {
	for _, e := range m {
		if s == e.mount || strings.HasPrefix(s, e.mount+"/") {
			return e.host + s[len(e.mount):], true
		}
	}
	return s, false
}
