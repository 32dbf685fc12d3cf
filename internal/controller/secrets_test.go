package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// touch changes an annotation of the cluster, which starts a pass at once:
// Secrets are not watched, so an edit of one is otherwise seen by the
// next periodic pass (resyncInterval).
func touch(t *testing.T, c *yzmav1.YzmaCluster) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl := getCluster(t, c.Namespace, c.Name)
		if cl.Annotations == nil {
			cl.Annotations = map[string]string{}
		}
		cl.Annotations["test/touched"] = time.Now().Format(time.RFC3339Nano)
		return k8s.Update(context.Background(), cl)
	}); err != nil {
		t.Fatal(err)
	}
}

func getSecret(t *testing.T, ns, name string) (*corev1.Secret, error) {
	t.Helper()
	var s corev1.Secret
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s)
	return &s, err
}

func configHash(t *testing.T, c *yzmav1.YzmaCluster) string {
	t.Helper()
	var sts appsv1.StatefulSet
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c), &sts); err != nil {
		return ""
	}
	return sts.Spec.Template.Annotations[annotationConfigHash]
}

// TestGeneratedSecrets: a cluster with the defaults gets its CA, its
// nodes' certificate and its auth Secret, owned by it; the StatefulSet
// mounts them and configures the nodes with them; an edit of the auth
// Secret stays and rolls the pods (the configuration hash); a certificate
// that no longer fits is issued again by the same CA.
func TestGeneratedSecrets(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := newCluster(t, ns, "gen", 3)
	ctx := context.Background()
	var sts appsv1.StatefulSet
	waitFor(t, "the StatefulSet", 20*time.Second, func() bool { return k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts) == nil })
	cl := getCluster(t, ns, c.Name)

	secrets := map[string]*corev1.Secret{}
	for _, g := range []struct {
		name, component string
		typ             corev1.SecretType
		keys            []string
	}{
		{"gen-ca", "ca", corev1.SecretTypeOpaque, []string{"ca.crt", "ca.key"}},
		{"gen-tls", "tls", corev1.SecretTypeTLS, []string{"ca.crt", "tls.crt", "tls.key"}},
		{"gen-auth", "auth", corev1.SecretTypeOpaque, []string{"gossip-keys", "peer-tokens", "tokens"}},
	} {
		s, err := getSecret(t, ns, g.name)
		if err != nil {
			t.Fatalf("secret %s: %v", g.name, err)
		}
		secrets[g.name] = s
		refs := s.OwnerReferences
		if len(refs) != 1 || refs[0].UID != cl.UID || !ptr.Deref(refs[0].Controller, false) {
			t.Errorf("secret %s: owner references %+v, want the YzmaCluster as controller", g.name, refs)
		}
		if l := s.Labels; l[labelInstance] != "gen" || l[labelName] != appName || l[labelManagedBy] != managerName || l[labelComponent] != g.component {
			t.Errorf("secret %s: labels %v", g.name, l)
		}
		var keys []string
		for k := range s.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if s.Type != g.typ || !slices.Equal(keys, g.keys) {
			t.Errorf("secret %s: type %s keys %v, want %s %v", g.name, s.Type, keys, g.typ, g.keys)
		}
	}
	if err := checkAuthData(secrets["gen-auth"].Data); err != nil {
		t.Errorf("generated auth data: %v", err)
	}
	caSec, tlsSec := secrets["gen-ca"], secrets["gen-tls"]
	if string(tlsSec.Data[caCertKey]) != string(caSec.Data[caCertKey]) {
		t.Error("the TLS Secret's ca.crt is not the CA's certificate")
	}
	verifyLeaf := func(tlsSec *corev1.Secret) *x509.Certificate {
		t.Helper()
		roots, err := certPool(caSec.Data[caCertKey])
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCert(t, tlsSec.Data[tlsCertKey])
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "gen-2.gen-peers." + ns + ".svc.cluster.local"}); err != nil {
			t.Errorf("the nodes' certificate as pod gen-2: %v", err)
		}
		return cert
	}
	first := verifyLeaf(tlsSec)

	// The StatefulSet mounts them and points the nodes at the files.
	ps := sts.Spec.Template.Spec
	ctr := ps.Containers[0]
	mountedNames := map[string]string{}
	for _, v := range ps.Volumes {
		if v.Secret != nil {
			mountedNames[v.Name] = v.Secret.SecretName
		}
	}
	if mountedNames[tlsVolume] != "gen-tls" || mountedNames[authVolume] != "gen-auth" || len(mountedNames) != 2 {
		t.Errorf("secret volumes %v, want gen-tls and gen-auth (the CA's key stays out)", mountedNames)
	}
	for name, want := range map[string]string{
		"YZMA_TLS_CERT_FILE":      "/etc/yzma/tls/tls.crt",
		"YZMA_AUTH_TOKEN_FILE":    "/etc/yzma/auth/tokens",
		"YZMA_GOSSIP_KEY_FILE":    "/etc/yzma/auth/gossip-keys",
		"YZMA_API_ADVERTISE_NAME": "$(POD_NAME).gen-peers.$(POD_NAMESPACE).svc.cluster.local",
	} {
		if e, _ := envValue(ctr.Env, name); e.Value != want {
			t.Errorf("%s = %q, want %q", name, e.Value, want)
		}
	}
	if ctr.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("readiness probe scheme %q", ctr.ReadinessProbe.HTTPGet.Scheme)
	}
	hash0 := sts.Spec.Template.Annotations[annotationConfigHash]
	if want := (nodeSecrets{TLS: mounted(tlsSec, tlsKeys), Auth: mounted(secrets["gen-auth"], authKeys)}).hash(); hash0 != want {
		t.Errorf("config hash %q, want %q", hash0, want)
	}

	// A user rotates the token: the edit stays, the pods roll.
	auth := secrets["gen-auth"]
	auth.Data[authTokensKey] = []byte("rw new-admin-token\nro reader\n")
	if err := k8s.Update(ctx, auth); err != nil {
		t.Fatal(err)
	}
	touch(t, c)
	waitFor(t, "a new config hash after the auth edit", 10*time.Second, func() bool {
		h := configHash(t, c)
		return h != "" && h != hash0
	})
	touch(t, c) // one more pass: it must not overwrite the edit
	waitFor(t, "a pass after the edit", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ObservedGeneration == cl.Generation && meta.IsStatusConditionFalse(cl.Status.Conditions, yzmav1.ConditionDegraded)
	})
	if s, err := getSecret(t, ns, "gen-auth"); err != nil || string(s.Data[authTokensKey]) != "rw new-admin-token\nro reader\n" {
		t.Errorf("the edited auth Secret: %q, %v", s.Data[authTokensKey], err)
	}
	hash1 := configHash(t, c)

	// A certificate for other names (as after a change of the cluster
	// domain) is issued again, by the same CA.
	ca, err := parseCA(caSec.Data[caCertKey], caSec.Data[caKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	wrongPEM, wrongKey, err := newLeaf(ca, "gen", certSANs{DNSNames: []string{"elsewhere"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tlsSec, err = getSecret(t, ns, "gen-tls")
	if err != nil {
		t.Fatal(err)
	}
	tlsSec.Data[tlsCertKey], tlsSec.Data[tlsKeyKey] = wrongPEM, wrongKey
	if err := k8s.Update(ctx, tlsSec); err != nil {
		t.Fatal(err)
	}
	touch(t, c)
	waitFor(t, "the certificate issued again", 10*time.Second, func() bool {
		s, err := getSecret(t, ns, "gen-tls")
		return err == nil && !strings.Contains(fmt.Sprint(parseCert(t, s.Data[tlsCertKey]).DNSNames), "elsewhere")
	})
	tlsSec, _ = getSecret(t, ns, "gen-tls")
	if renewed := verifyLeaf(tlsSec); renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the same certificate again")
	}
	if s, _ := getSecret(t, ns, "gen-ca"); string(s.Data[caCertKey]) != string(caSec.Data[caCertKey]) {
		t.Error("the CA changed")
	}
	waitFor(t, "a new config hash after the renewal", 10*time.Second, func() bool {
		h := configHash(t, c)
		return h != "" && h != hash1
	})
	waitFor(t, "a "+reasonCertRenewed+" event", 10*time.Second, func() bool {
		return len(eventsWithReason(t, ns, reasonCertRenewed)) == 1
	})
}

// TestUserSecrets: a user's TLS Secret without ca.crt makes the cluster
// Degraded (SecretUnusable) and generates nothing; with ca.crt it is
// mounted as it is, and so is the user's auth Secret.
func TestUserSecrets(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	ctx := context.Background()
	ca := testCA(t, time.Now())
	certPEM, keyPEM, err := newLeaf(ca, "mine", clusterSANs(cluster(), "cluster.local"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tlsSec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-tls"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{tlsCertKey: certPEM, tlsKeyKey: keyPEM},
	}
	authSec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-auth"}, Data: testAuthData()}
	for _, s := range []*corev1.Secret{tlsSec, authSec} {
		if err := k8s.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	c := newCluster(t, ns, "mine", 1, func(c *yzmav1.YzmaCluster) {
		c.Spec.TLS.SecretName, c.Spec.Auth.SecretName = "my-tls", "my-auth"
	})
	waitFor(t, "Degraded for want of ca.crt", 10*time.Second, func() bool {
		cond := meta.FindStatusCondition(getCluster(t, ns, c.Name).Status.Conditions, yzmav1.ConditionDegraded)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == reasonSecretProblem &&
			strings.Contains(cond.Message, "my-tls") && strings.Contains(cond.Message, "ca.crt")
	})
	if configHash(t, c) != "" {
		t.Error("a StatefulSet without a usable TLS Secret")
	}

	tlsSec.Data[caCertKey] = ca.CertPEM
	if err := k8s.Update(ctx, tlsSec); err != nil {
		t.Fatal(err)
	}
	touch(t, c)
	waitFor(t, "recovery once ca.crt is there", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ObservedGeneration == cl.Generation && meta.IsStatusConditionFalse(cl.Status.Conditions, yzmav1.ConditionDegraded)
	})
	var sts appsv1.StatefulSet
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts); err != nil {
		t.Fatal(err)
	}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if (v.Name == tlsVolume && v.Secret.SecretName != "my-tls") || (v.Name == authVolume && v.Secret.SecretName != "my-auth") {
			t.Errorf("volume %s mounts %s", v.Name, v.Secret.SecretName)
		}
	}
	// The user's Secrets are left as they were, and none is generated.
	for _, s := range []*corev1.Secret{tlsSec, authSec} {
		got, err := getSecret(t, ns, s.Name)
		if err != nil || len(got.OwnerReferences) != 0 || got.ResourceVersion != s.ResourceVersion {
			t.Errorf("secret %s changed: %+v, %v", s.Name, got.ObjectMeta, err)
		}
	}
	for _, name := range []string{"mine-ca", "mine-tls", "mine-auth"} {
		if _, err := getSecret(t, ns, name); err == nil {
			t.Errorf("secret %s generated beside the user's", name)
		}
	}
}

// TestTLSAndAuthOff: without TLS and auth nothing is generated or mounted.
func TestTLSAndAuthOff(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := newCluster(t, ns, "open", 1, func(c *yzmav1.YzmaCluster) {
		c.Spec.TLS.Enabled, c.Spec.Auth.Enabled = ptr.To(false), ptr.To(false)
	})
	ctx := context.Background()
	var sts appsv1.StatefulSet
	waitFor(t, "the StatefulSet", 20*time.Second, func() bool { return k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts) == nil })
	ctr := sts.Spec.Template.Spec.Containers[0]
	for _, e := range ctr.Env {
		if strings.HasSuffix(e.Name, "_FILE") || e.Name == "YZMA_API_ADVERTISE_NAME" {
			t.Errorf("%s set with TLS and auth off", e.Name)
		}
	}
	if len(sts.Spec.Template.Spec.Volumes) != 1 || ctr.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("volumes %+v, probe scheme %q", sts.Spec.Template.Spec.Volumes, ctr.ReadinessProbe.HTTPGet.Scheme)
	}
	var list corev1.SecretList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Secrets generated, e.g. %s", len(list.Items), list.Items[0].Name)
	}
}
