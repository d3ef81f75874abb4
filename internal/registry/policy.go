package registry

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/meta"
)

// A namespace's policies (chartroom policy set) and the keys it trusts (chartroom trust add)
// are read from the database by one query by primary key (meta.GetNamespacePolicy) when a
// chart version or a signature comes in; the keys themselves are parsed once per change of
// the namespace's keys and cached. Reads pay nothing: a version's quarantine is a column of
// its row, kept by the database in the transactions that change it.

// Semver discipline modes (NamespacePolicy.SemverDiscipline).
const (
	DisciplineOff     = meta.DisciplineOff
	DisciplineWarn    = meta.DisciplineWarn
	DisciplineEnforce = meta.DisciplineEnforce
)

// Signature statuses (SignatureStatus.Status).
const (
	SignatureUnsigned = "unsigned"
	SignatureValid    = "valid"
	SignatureInvalid  = "invalid"
	// SignatureUnverified: a .prov stored before the registry checked signatures.
	SignatureUnverified = "unverified"
)

// SignatureStatus is what the registry knows of one kind of signature of a chart version.
type SignatureStatus struct {
	// Status is SignatureUnsigned, SignatureValid, SignatureInvalid or SignatureUnverified.
	Status string `json:"status"`
	// Signer is the fingerprint of the trusted key that made a valid signature (OpenPGP: the
	// primary key's fingerprint in hex; cosign: "sha256:" and the hex SHA-256 of the key).
	Signer string `json:"signer,omitempty"`
	// Error says why an invalid signature is not valid.
	Error string `json:"error,omitempty"`
}

func signatureStatusOf(s meta.SignatureStatus, hasFile bool) SignatureStatus {
	switch s.Status {
	case meta.SignatureNone:
		if hasFile {
			return SignatureStatus{Status: SignatureUnverified, Error: "stored before chartroom checked signatures: upload the .prov again to check it"}
		}
		return SignatureStatus{Status: SignatureUnsigned}
	case meta.SignatureValid:
		return SignatureStatus{Status: SignatureValid, Signer: s.Signer}
	}
	return SignatureStatus{Status: SignatureInvalid, Error: s.Error}
}

// metaStatus is the database's form of a status.
func (s SignatureStatus) metaStatus() meta.SignatureStatus {
	switch s.Status {
	case SignatureValid:
		return meta.SignatureStatus{Status: meta.SignatureValid, Signer: s.Signer}
	case SignatureInvalid:
		return meta.SignatureStatus{Status: meta.SignatureInvalid, Error: s.Error}
	}
	return meta.SignatureStatus{}
}

type quarantineKey struct{}

// WithQuarantined returns ctx in which reads also see quarantined chart versions (their
// manifests, tags, archives and API entries; never the index): for callers who may publish
// to the namespace, who sign what they published. Without it, a quarantined version is
// answered as a version that does not exist.
func WithQuarantined(ctx context.Context) context.Context {
	return context.WithValue(ctx, quarantineKey{}, true)
}

func seesQuarantined(ctx context.Context) bool {
	v, _ := ctx.Value(quarantineKey{}).(bool)
	return v
}

// trustedKeys are a namespace's keys, parsed, at one trust generation.
type trustedKeys struct {
	generation string
	gpg        openpgp.EntityList
	cosign     []*cosign.PublicKey
}

// keyCache holds each namespace's parsed keys.
type keyCache struct {
	mu   sync.Mutex
	byNS map[string]*trustedKeys
}

// policy reads namespace ns's policies.
func (r *Registry) policy(ctx context.Context, ns string) (meta.NamespacePolicy, error) {
	return r.db.GetNamespacePolicy(ctx, ns)
}

// trustedKeys returns namespace ns's keys as of policy p, parsed once per trust generation.
func (r *Registry) trustedKeys(ctx context.Context, ns string, p meta.NamespacePolicy) (*trustedKeys, error) {
	r.keys.mu.Lock()
	k := r.keys.byNS[ns]
	r.keys.mu.Unlock()
	if k != nil && k.generation == p.TrustGeneration {
		return k, nil
	}
	rows, err := r.db.TrustedKeys(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	k = &trustedKeys{generation: p.TrustGeneration}
	for _, row := range rows {
		switch row.Kind {
		case meta.KeyGPG:
			el, err := openpgp.ReadKeyRing(bytes.NewReader(row.Data))
			if err != nil {
				return nil, fmt.Errorf("trusted OpenPGP key %s of %s: %w", row.Fingerprint, namespaceLabel(ns), err)
			}
			k.gpg = append(k.gpg, el...)
		case meta.KeyCosign:
			pk, err := cosign.ParsePublicKey(row.Data)
			if err != nil {
				return nil, fmt.Errorf("trusted cosign key %s of %s: %w", row.Fingerprint, namespaceLabel(ns), err)
			}
			k.cosign = append(k.cosign, pk)
		}
	}
	r.keys.mu.Lock()
	if r.keys.byNS == nil {
		r.keys.byNS = map[string]*trustedKeys{}
	}
	r.keys.byNS[ns] = k
	r.keys.mu.Unlock()
	return k, nil
}
