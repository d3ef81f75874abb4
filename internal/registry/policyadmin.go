package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// NamespacePolicy is a namespace's policies as an admin sees them (chartroom policy show):
// signed-only, the semver discipline, the keys it trusts, and whether it may be read
// without credentials.
type NamespacePolicy struct {
	Namespace        string
	SignedOnly       bool
	SemverDiscipline string // DisciplineOff, DisciplineWarn or DisciplineEnforce
	Keys             []TrustedKey
	// AnonymousRead is the namespace's own setting (chartroom namespace set
	// --anonymous-read); nil follows serve --anonymous-read.
	AnonymousRead *bool
}

// TrustedKey is a key a namespace trusts to sign its charts.
type TrustedKey struct {
	Kind        string // "gpg" (.prov files) or "cosign"
	Fingerprint string
	Name        string // the OpenPGP identity; "" for cosign keys
	Added       time.Time
}

// GetNamespacePolicy reads namespace ns's policies, trusted keys and anonymous read setting.
func (r *Registry) GetNamespacePolicy(ctx context.Context, ns string) (*NamespacePolicy, error) {
	p, err := r.db.GetNamespacePolicy(ctx, ns)
	if err != nil {
		return nil, err
	}
	keys, err := r.db.TrustedKeys(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	s, err := r.db.GetNamespaceSettings(ctx, ns)
	if err != nil && !errors.Is(err, meta.ErrNotFound) { // not found: no settings
		return nil, err
	}
	out := &NamespacePolicy{Namespace: ns, SignedOnly: p.SignedOnly, SemverDiscipline: p.SemverDiscipline}
	if out.SemverDiscipline == "" {
		out.SemverDiscipline = DisciplineOff
	}
	if s != nil {
		out.AnonymousRead = s.AnonymousRead
	}
	for _, k := range keys {
		out.Keys = append(out.Keys, TrustedKey{Kind: k.Kind, Fingerprint: k.Fingerprint, Name: k.Name, Added: k.Created})
	}
	return out, nil
}

// SetNamespacePolicy sets namespace ns's signed-only and semver discipline policies (nil:
// unchanged), audited as chartroom policy set is (action policy.set) with actor and
// address. Turning signed-only on quarantines at once the versions without a valid
// signature; turning it off releases them.
func (r *Registry) SetNamespacePolicy(ctx context.Context, ns string, signedOnly *bool, discipline *string, actor, address string) error {
	if ns != "" {
		if err := ValidateName(ns); err != nil {
			return fmt.Errorf("namespace %q: %w", ns, err)
		}
	}
	if discipline != nil {
		switch *discipline {
		case DisciplineOff, DisciplineWarn, DisciplineEnforce:
		default:
			return fmt.Errorf("semver discipline %q: use enforce, warn or off", *discipline)
		}
	}
	detail := ""
	if signedOnly != nil {
		detail = fmt.Sprintf("signed-only=%t", *signedOnly)
	}
	if discipline != nil {
		if detail != "" {
			detail += " "
		}
		detail += "semver-discipline=" + *discipline
	}
	audit := &meta.AuditRecord{Actor: actor, Address: address, Action: "policy.set", Repository: ns, Outcome: "ok", Detail: detail}
	return r.db.SetNamespacePolicy(ctx, ns, signedOnly, discipline, audit)
}
