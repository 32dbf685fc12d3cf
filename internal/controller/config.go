package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// ErrSecret means a Secret the spec references is missing or lacks the key.
var ErrSecret = errors.New("referenced secret unusable")

// annotationConfigHash on the pod template changes whenever the content of
// the referenced Secrets does, which rolls the pods: the nodes read the
// gossip key and API token only at start.
const annotationConfigHash = "yzma.io/config-hash"

// nodeSecrets are the Secret values the nodes use, read once per pass.
type nodeSecrets struct {
	GossipKey string
	APIToken  string
}

// hash is the configuration hash of s.
func (s nodeSecrets) hash() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "gossip=%q\ntoken=%q\n", s.GossipKey, s.APIToken))
	return hex.EncodeToString(sum[:])[:16]
}

// readSecrets reads the Secret values the cluster references into
// p.secrets.
func (r *Reconciler) readSecrets(ctx context.Context, p *pass) error {
	c := p.c
	var err error
	if p.secrets.GossipKey, err = r.secretValue(ctx, c.Namespace, c.Spec.GossipKeySecret); err != nil {
		return err
	}
	if p.secrets.APIToken, err = r.secretValue(ctx, c.Namespace, c.Spec.APITokenSecret); err != nil {
		return err
	}
	return nil
}

func (r *Reconciler) secretValue(ctx context.Context, ns string, ref *corev1.SecretKeySelector) (string, error) {
	if ref == nil {
		return "", nil
	}
	var sec corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: secret %s/%s not found", ErrSecret, ns, ref.Name)
		}
		return "", fmt.Errorf("read secret %s/%s: %w", ns, ref.Name, err)
	}
	v, ok := sec.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%w: secret %s/%s has no key %q", ErrSecret, ns, ref.Name, ref.Key)
	}
	return string(v), nil
}
