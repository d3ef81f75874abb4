package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Semver discipline values of NamespacePolicy.SemverDiscipline.
const (
	DisciplineOff     = "off"
	DisciplineWarn    = "warn"
	DisciplineEnforce = "enforce"
)

// Kinds of trusted keys.
const (
	KeyGPG    = "gpg"
	KeyCosign = "cosign"
)

// Signature statuses of a chart version's .prov and cosign signatures.
const (
	SignatureNone    = ""        // unsigned
	SignatureValid   = "valid"   // by a key the namespace trusts (the signer)
	SignatureInvalid = "invalid" // a bad signature, or by a key the namespace does not trust
)

// NamespacePolicy is a namespace's policies (chartroom policy set): the zero value is none.
type NamespacePolicy struct {
	// SignedOnly quarantines the versions that have no valid signature by a trusted key.
	SignedOnly bool
	// SemverDiscipline is DisciplineOff (or ""), DisciplineWarn or DisciplineEnforce.
	SemverDiscipline string
	// TrustGeneration changes whenever the namespace's trusted keys change (their count and
	// newest addition): a cache of parsed keys is valid while it stays the same.
	TrustGeneration string
}

// TrustedKey is a key a namespace trusts.
type TrustedKey struct {
	Namespace   string
	Kind        string // KeyGPG or KeyCosign
	Fingerprint string
	// Name is what the key says of its owner (an OpenPGP identity; "" for cosign keys).
	Name    string
	Data    []byte
	Created time.Time
}

// GetNamespacePolicy reads namespace ns's policies and where its trusted keys stand, in one
// query by primary key. A namespace without settings, or a database of a schema before
// policies opened as it is, has none.
func (db *DB) GetNamespacePolicy(ctx context.Context, ns string) (NamespacePolicy, error) {
	var p NamespacePolicy
	var signed sql.NullBool
	var discipline sql.NullString
	var keys, newest int64
	err := db.r.QueryRowContext(ctx, `SELECT
			(SELECT signed_only FROM namespace_settings WHERE namespace = ?),
			(SELECT semver_discipline FROM namespace_settings WHERE namespace = ?),
			(SELECT count(*) FROM trust_keys WHERE namespace = ?),
			(SELECT coalesce(max(created_at), 0) FROM trust_keys WHERE namespace = ?)`, ns, ns, ns, ns).
		Scan(&signed, &discipline, &keys, &newest)
	if err != nil && (strings.Contains(err.Error(), "no such column") || strings.Contains(err.Error(), "no such table")) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("policies of namespace %q: %w", ns, err)
	}
	p.SignedOnly = signed.Valid && signed.Bool
	p.SemverDiscipline = discipline.String
	if p.SemverDiscipline == "" {
		p.SemverDiscipline = DisciplineOff
	}
	p.TrustGeneration = fmt.Sprintf("%d.%d", keys, newest)
	return p, nil
}

// SetNamespacePolicy sets namespace ns's policies: signedOnly and discipline when not nil,
// keeping the others. Turning signed-only on quarantines the namespace's live versions that
// have no valid signature, turning it off releases them, each a change of the namespace (its
// index follows), in the transaction of the change, audited by audit.
func (db *DB) SetNamespacePolicy(ctx context.Context, ns string, signedOnly *bool, discipline *string, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now().UnixNano()
		if _, err := tx.ExecContext(ctx, `INSERT INTO namespace_settings (namespace, updated_at) VALUES (?, ?) ON CONFLICT (namespace) DO NOTHING`, ns, now); err != nil {
			return err
		}
		if signedOnly != nil {
			v := sql.NullBool{Bool: true, Valid: *signedOnly}
			if _, err := tx.ExecContext(ctx, `UPDATE namespace_settings SET signed_only = ?, updated_at = ? WHERE namespace = ?`, v, now, ns); err != nil {
				return err
			}
		}
		if discipline != nil {
			v := sql.NullString{String: *discipline, Valid: *discipline != "" && *discipline != DisciplineOff}
			if _, err := tx.ExecContext(ctx, `UPDATE namespace_settings SET semver_discipline = ?, updated_at = ? WHERE namespace = ?`, v, now, ns); err != nil {
				return err
			}
		}
		if err := db.requarantine(ctx, tx, ns); err != nil {
			return err
		}
		if err := removeEmptySettings(ctx, tx, ns); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("set the policies of namespace %q: %w", ns, err)
	}
	return nil
}

// trustedCondition is true for a chart_versions row with a valid signature.
const trustedCondition = `(prov_status = 'valid' OR cosign_status = 'valid')`

// quarantineValue is the quarantined value of a chart_versions row of namespace ? (the one
// parameter): whether the namespace is signed-only and the row has no valid signature.
const quarantineValue = `(coalesce((SELECT signed_only FROM namespace_settings WHERE namespace = ?), false) AND NOT ` + trustedCondition + `)`

// requarantine brings the quarantine of namespace ns's live versions in line with its policy
// and their signatures; each version that changes is a change of the namespace.
func (db *DB) requarantine(ctx context.Context, tx *sql.Tx, ns string) error {
	rows, err := tx.QueryContext(ctx, `UPDATE chart_versions SET quarantined = `+quarantineValue+`
		WHERE namespace = ? AND deleted_at IS NULL AND quarantined <> `+quarantineValue+`
		RETURNING repository_id, version`, ns, ns, ns)
	if err != nil {
		return err
	}
	type row struct {
		repoID  int64
		version string
	}
	var changed []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.repoID, &r.version); err != nil {
			rows.Close()
			return err
		}
		changed = append(changed, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range changed {
		if err := db.markChanged(ctx, tx, r.repoID, ns, r.version); err != nil {
			return err
		}
	}
	return nil
}

// AddTrustedKeys adds keys (of one namespace) to the keys it trusts; a key already trusted is
// kept as it is. It returns how many were new. audit is recorded in the same transaction.
func (db *DB) AddTrustedKeys(ctx context.Context, keys []TrustedKey, audit *AuditRecord) (int, error) {
	added := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		now := db.now().UnixNano()
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `INSERT INTO trust_keys (namespace, kind, fingerprint, name, data, created_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, k.Namespace, k.Kind, k.Fingerprint, k.Name, k.Data, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				added++
			}
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return 0, fmt.Errorf("trust keys: %w", err)
	}
	return added, nil
}

// TrustedKeys lists the keys namespace ns trusts, of kind ("" every kind), by kind and
// fingerprint.
func (db *DB) TrustedKeys(ctx context.Context, ns, kind string) ([]TrustedKey, error) {
	query := `SELECT namespace, kind, fingerprint, name, data, created_at FROM trust_keys WHERE namespace = ?`
	args := []any{ns}
	if kind != "" {
		query += ` AND kind = ?`
		args = append(args, kind)
	}
	rows, err := db.r.QueryContext(ctx, query+` ORDER BY kind, fingerprint`, args...)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil
		}
		return nil, fmt.Errorf("keys namespace %q trusts: %w", ns, err)
	}
	defer rows.Close()
	var out []TrustedKey
	for rows.Next() {
		var k TrustedKey
		var created int64
		if err := rows.Scan(&k.Namespace, &k.Kind, &k.Fingerprint, &k.Name, &k.Data, &created); err != nil {
			return nil, err
		}
		k.Created = time.Unix(0, created).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// RemoveTrustedKey stops namespace ns from trusting the key of this fingerprint (of either
// kind; matched without regard to case). The signatures its versions have by that key are no
// longer valid: they become invalid, and in a signed-only namespace the versions left
// without a valid signature are quarantined, in the same transaction (audited by audit).
// ErrNotFound when the namespace does not trust such a key.
func (db *DB) RemoveTrustedKey(ctx context.Context, ns, fingerprint string, audit *AuditRecord) (TrustedKey, error) {
	var k TrustedKey
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM trust_keys WHERE namespace = ? AND upper(fingerprint) = upper(CAST(? AS TEXT))
			RETURNING kind, fingerprint, name`, ns, fingerprint).Scan(&k.Kind, &k.Fingerprint, &k.Name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		k.Namespace = ns
		reason := "signed by key " + k.Fingerprint + ", which the namespace no longer trusts"
		column := "prov"
		if k.Kind == KeyCosign {
			column = "cosign"
		}
		_, err = tx.ExecContext(ctx, `UPDATE chart_versions SET `+column+`_status = 'invalid', `+column+`_error = ?
			WHERE namespace = ? AND `+column+`_status = 'valid' AND `+column+`_signer = ?`, reason, ns, k.Fingerprint)
		if err != nil {
			return err
		}
		if err := db.requarantine(ctx, tx, ns); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return k, fmt.Errorf("remove key %s from namespace %q: %w", fingerprint, ns, err)
	}
	return k, nil
}

// SignatureStatus is the status of one kind of signature of a chart version.
type SignatureStatus struct {
	// Status is SignatureNone, SignatureValid or SignatureInvalid.
	Status string
	// Signer is the fingerprint of the trusted key that made a valid signature.
	Signer string
	// Error says why an invalid signature is not valid.
	Error string
}

// SetChartSignature records the status of a chart version's cosign signatures (cosign true)
// or .prov (false): the version is the live one published by manifest d of repo. A valid
// status is never replaced by an invalid one (a bad signature added next to a good one does
// not undo it). The version's quarantine follows (a change of its namespace when it moves).
// It reports whether a live version of that manifest exists.
func (db *DB) SetChartSignature(ctx context.Context, repo string, d string, cosign bool, st SignatureStatus) (bool, error) {
	column := "prov"
	if cosign {
		column = "cosign"
	}
	found := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var repoID int64
		var ns, version string
		err := tx.QueryRowContext(ctx, `UPDATE chart_versions SET `+column+`_status = ?, `+column+`_signer = ?, `+column+`_error = ?
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND manifest_digest = ? AND deleted_at IS NULL
				AND (CAST(? AS TEXT) = 'valid' OR `+column+`_status <> 'valid')
			RETURNING repository_id, namespace, version`, st.Status, st.Signer, st.Error, repo, d, st.Status).Scan(&repoID, &ns, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		var moved bool
		err = tx.QueryRowContext(ctx, `SELECT quarantined <> `+quarantineValue+` FROM chart_versions WHERE repository_id = ? AND version = ?`,
			ns, repoID, version).Scan(&moved)
		if err != nil || !moved {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE chart_versions SET quarantined = NOT quarantined WHERE repository_id = ? AND version = ?`, repoID, version); err != nil {
			return err
		}
		return db.markChanged(ctx, tx, repoID, ns, version)
	})
	if err != nil {
		return false, fmt.Errorf("record the signature of %s@%s: %w", repo, d, err)
	}
	return found, nil
}

// quarantineNew sets the quarantine of a version just published (or brought back) as its
// namespace's policy says, in the publish's transaction: a policy set meanwhile cannot miss it.
func (db *DB) quarantineNew(ctx context.Context, tx *sql.Tx, repoID int64, ns, version string) (bool, error) {
	var q bool
	err := tx.QueryRowContext(ctx, `UPDATE chart_versions SET quarantined = `+quarantineValue+` WHERE repository_id = ? AND version = ?
		RETURNING quarantined`, ns, repoID, version).Scan(&q)
	return q, err
}
