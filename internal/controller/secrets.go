package controller

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// reconcileSecrets makes sure the Secrets the node pods mount exist and
// reads them into p.secrets; the pod template gets their configuration
// hash (config.go), so that a change rolls the pods.
//
//   - TLS (spec.tls.enabled): spec.tls.secretName, read and checked, never
//     changed; unset, the generated CA "<cluster>-ca" (created once) and
//     the nodes' certificate "<cluster>-tls", issued again by the same CA
//     when leafRenewal says so.
//   - Auth (spec.auth.enabled): spec.auth.secretName, read and checked,
//     never changed; unset, the generated "<cluster>-auth", created once
//     and never overwritten: users rotate tokens and keys by editing it.
//
// Generated Secrets are the cluster's children (controller reference, the
// cluster's labels), so they go with it. Secrets are read through the
// APIReader, never cached or watched (cache.go): a user's edit is seen by
// the next pass, within resyncInterval. A Secret that is missing, lacks a
// key or holds what the nodes cannot use is an ErrSecret: the cluster is
// Degraded (SecretUnusable) and nothing else changes until it is fixed.
func (r *Reconciler) reconcileSecrets(ctx context.Context, p *pass) error {
	c := p.c
	p.secrets = nodeSecrets{}
	if tlsEnabled(c) {
		s, err := r.tlsSecret(ctx, c)
		if err != nil {
			return err
		}
		p.secrets.TLS = s
	}
	if authEnabled(c) {
		s, err := r.authSecret(ctx, c)
		if err != nil {
			return err
		}
		p.secrets.Auth = s
	}
	return nil
}

// authSecret is the auth Secret the pods mount: the user's, or the
// generated one, created if missing.
func (r *Reconciler) authSecret(ctx context.Context, c *yzmav1.YzmaCluster) (*mountedSecret, error) {
	if name := c.Spec.Auth.SecretName; name != "" {
		return r.userSecret(ctx, c.Namespace, name, "spec.auth.secretName", authKeys, checkAuthData)
	}
	name := authSecretName(c)
	sec, err := r.getSecret(ctx, c.Namespace, name)
	if err != nil {
		return nil, err
	}
	if sec == nil {
		data, err := newAuthSecretData()
		if err != nil {
			return nil, err
		}
		if sec, err = r.createSecret(ctx, c, name, "auth", corev1.SecretTypeOpaque, data); err != nil {
			return nil, err
		}
		return mounted(sec, authKeys), nil
	}
	// The user's to edit, never overwritten: checked like a user's own.
	if err := checkSecretData(sec, "generated", authKeys, checkAuthData); err != nil {
		return nil, err
	}
	return mounted(sec, authKeys), nil
}

// tlsSecret is the TLS Secret the pods mount: the user's, or the
// generated one, issued or renewed by the generated CA as needed.
func (r *Reconciler) tlsSecret(ctx context.Context, c *yzmav1.YzmaCluster) (*mountedSecret, error) {
	if name := c.Spec.TLS.SecretName; name != "" {
		return r.userSecret(ctx, c.Namespace, name, "spec.tls.secretName", tlsKeys, checkTLSData)
	}
	ca, err := r.clusterCA(ctx, c)
	if err != nil {
		return nil, err
	}
	name := tlsSecretName(c)
	sec, err := r.getSecret(ctx, c.Namespace, name)
	if err != nil {
		return nil, err
	}
	now := r.now()
	sans := clusterSANs(c, r.ClusterDomain)
	why := "none yet"
	if sec != nil {
		if !metav1.IsControlledBy(sec, c) {
			return nil, fmt.Errorf("%w: secret %s/%s exists and is not this cluster's: set spec.tls.secretName to use it, or delete it", ErrSecret, c.Namespace, name)
		}
		why = leafRenewal(ca, sec.Data[tlsCertKey], sec.Data[tlsKeyKey], sans, now)
		if why == "" && !bytes.Equal(sec.Data[caCertKey], ca.CertPEM) {
			why = caCertKey + " is not the cluster's CA"
		}
		if why == "" {
			return mounted(sec, tlsKeys), nil
		}
	}
	certPEM, keyPEM, err := newLeaf(ca, c.Name, sans, now)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s/%s: %w", c.Namespace, c.Name, err)
	}
	data := map[string][]byte{tlsCertKey: certPEM, tlsKeyKey: keyPEM, caCertKey: ca.CertPEM}
	if sec == nil {
		sec, err = r.createSecret(ctx, c, name, "tls", corev1.SecretTypeTLS, data)
		if err != nil {
			return nil, err
		}
		return mounted(sec, tlsKeys), nil
	}
	// An update, not an apply: the resourceVersion read makes a concurrent
	// change fail the pass rather than be lost.
	sec.Data = data
	if err := r.Update(ctx, sec); err != nil {
		return nil, fmt.Errorf("renew the certificate in secret %s/%s: %w", c.Namespace, name, err)
	}
	r.event(c, corev1.EventTypeNormal, reasonCertRenewed, "RenewCertificate",
		"Issued a new certificate in Secret %s (%s); the pods roll to it", name, why)
	return mounted(sec, tlsKeys), nil
}

// clusterCA is the generated CA of c, created if missing. A CA Secret that
// cannot be read is an ErrSecret, not replaced: the nodes and the clients
// trust that CA. Deleting the Secret makes a new CA (and certificate).
func (r *Reconciler) clusterCA(ctx context.Context, c *yzmav1.YzmaCluster) (*keyPair, error) {
	name := caSecretName(c)
	sec, err := r.getSecret(ctx, c.Namespace, name)
	if err != nil {
		return nil, err
	}
	if sec == nil {
		certPEM, keyPEM, err := newCA(c.Name+"."+c.Namespace+" CA", r.now())
		if err != nil {
			return nil, fmt.Errorf("CA for %s/%s: %w", c.Namespace, c.Name, err)
		}
		if sec, err = r.createSecret(ctx, c, name, "ca", corev1.SecretTypeOpaque,
			map[string][]byte{caCertKey: certPEM, caKeyKey: keyPEM}); err != nil {
			return nil, err
		}
	}
	ca, err := parseCA(sec.Data[caCertKey], sec.Data[caKeyKey])
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s/%s (the generated CA): %w; delete it to have a new CA made", ErrSecret, c.Namespace, name, err)
	}
	return ca, nil
}

// userSecret reads the Secret name that field of the spec names, checks
// it has keys and that check accepts their values.
func (r *Reconciler) userSecret(ctx context.Context, ns, name, field string, keys []string, check func(map[string][]byte) error) (*mountedSecret, error) {
	sec, err := r.getSecret(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, fmt.Errorf("%w: secret %s/%s (%s) not found", ErrSecret, ns, name, field)
	}
	if err := checkSecretData(sec, field, keys, check); err != nil {
		return nil, err
	}
	return mounted(sec, keys), nil
}

// checkSecretData checks that sec has keys and that check accepts them;
// its errors are ErrSecret, naming the Secret and what (the spec field, or
// "generated").
func checkSecretData(sec *corev1.Secret, what string, keys []string, check func(map[string][]byte) error) error {
	var missing []string
	for _, k := range keys {
		if _, ok := sec.Data[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: secret %s/%s (%s) has no key %s", ErrSecret, sec.Namespace, sec.Name, what, strings.Join(missing, ", "))
	}
	if err := check(sec.Data); err != nil {
		return fmt.Errorf("%w: secret %s/%s (%s): %w", ErrSecret, sec.Namespace, sec.Name, what, err)
	}
	return nil
}

// getSecret reads a Secret past the cache; nil, nil when it does not exist.
func (r *Reconciler) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	var sec corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read secret %s/%s: %w", ns, name, err)
	}
	return &sec, nil
}

// createSecret creates a generated Secret of c, as its child. Should it
// exist already (another pass made it meanwhile), the pass fails and the
// next one reads it.
func (r *Reconciler) createSecret(ctx context.Context, c *yzmav1.YzmaCluster, name, component string,
	typ corev1.SecretType, data map[string][]byte) (*corev1.Secret, error) {
	sec := &corev1.Secret{ObjectMeta: childMeta(c, name, component), Type: typ, Data: data}
	if err := controllerutil.SetControllerReference(c, sec, r.Scheme); err != nil {
		return nil, fmt.Errorf("owner reference on %s: %w", name, err)
	}
	if err := r.Create(ctx, sec); err != nil {
		return nil, fmt.Errorf("create secret %s/%s: %w", c.Namespace, name, err)
	}
	r.event(c, corev1.EventTypeNormal, reasonSecretCreated, "CreateSecret", "Created Secret %s (%s)", name, component)
	return sec, nil
}
