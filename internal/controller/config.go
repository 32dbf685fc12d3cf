package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// ErrSecret means a Secret the cluster uses is unusable: one the spec
// names is missing, lacks a key or holds what the nodes cannot use, or a
// generated one was made so.
var ErrSecret = errors.New("secret unusable")

// annotationConfigHash on the pod template changes whenever the content of
// the Secrets the pods mount does, or another Secret is mounted, which
// rolls the pods one at a time (rollout.go): a renewed certificate or an
// edited token takes effect on every node, in a rollout the status shows.
const annotationConfigHash = "yzma.io/config-hash"

// Keys of the Secrets the pods mount, the files of the mounted directories
// (the contract with the node, see node/config).
const (
	// The TLS Secret, mounted at tlsDir: cert-manager's shape.
	tlsCertKey = corev1.TLSCertKey       // tls.crt: the nodes' certificate
	tlsKeyKey  = corev1.TLSPrivateKeyKey // tls.key: its key
	caCertKey  = "ca.crt"                // the CA the nodes and the operator trust
	// The generated CA Secret (not mounted) also holds the CA's key.
	caKeyKey = "ca.key"
	// The auth Secret, mounted at authDir.
	authTokensKey     = "tokens"      // client tokens: "rw <t>", "ro <t>" or "<t>" per line
	authPeerTokensKey = "peer-tokens" // peer secrets, one per line, the first sent
	authGossipKeysKey = "gossip-keys" // gossip keys (base64), one per line, the first primary
)

// tlsKeys and authKeys are the keys the nodes read from each Secret; the
// configuration hash covers these only, so another key of a user's Secret
// can change without rolling the pods.
var (
	tlsKeys  = []string{tlsCertKey, tlsKeyKey, caCertKey}
	authKeys = []string{authTokensKey, authPeerTokensKey, authGossipKeysKey}
)

// nodeSecrets are the Secrets the node pods mount, read once per pass
// (secrets.go).
type nodeSecrets struct {
	TLS  *mountedSecret // at tlsDir; nil when TLS is off
	Auth *mountedSecret // at authDir; nil when auth is off
}

// mountedSecret is one Secret the pods mount.
type mountedSecret struct {
	Name string
	Data map[string][]byte // the keys the nodes read, nothing else
}

// mounted is sec as the pods mount it, restricted to keys.
func mounted(sec *corev1.Secret, keys []string) *mountedSecret {
	m := &mountedSecret{Name: sec.Name, Data: make(map[string][]byte, len(keys))}
	for _, k := range keys {
		if v, ok := sec.Data[k]; ok {
			m.Data[k] = v
		}
	}
	return m
}

// name is the Secret's name, "" for none.
func (m *mountedSecret) name() string {
	if m == nil {
		return ""
	}
	return m.Name
}

// hash is the configuration hash of s: of the mounted Secrets' names and
// the values of their keys.
func (s nodeSecrets) hash() string {
	h := sha256.New()
	for _, m := range []struct {
		dir string
		s   *mountedSecret
	}{{tlsDir, s.TLS}, {authDir, s.Auth}} {
		if m.s == nil {
			continue
		}
		fmt.Fprintf(h, "%s=%q\n", m.dir, m.s.Name)
		for _, k := range slices.Sorted(maps.Keys(m.s.Data)) {
			fmt.Fprintf(h, "%s/%s=%x\n", m.dir, k, sha256.Sum256(m.s.Data[k]))
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// token is the bearer token the operator calls the nodes with: the first
// rw token of the auth Secret; "" with auth off.
func (s nodeSecrets) token() string {
	if s.Auth == nil {
		return ""
	}
	t, _ := firstRWToken(s.Auth.Data[authTokensKey])
	return t
}

// caPEM is the CA bundle the operator verifies the nodes with; nil with
// TLS off (plain HTTP).
func (s nodeSecrets) caPEM() []byte {
	if s.TLS == nil {
		return nil
	}
	return s.TLS.Data[caCertKey]
}
