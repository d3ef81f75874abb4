-- chartroom metadata, schema 9: trust and release policies per namespace, and the signature
-- status of every chart version.
-- PostgreSQL form of migrations/sqlite/0009_signature_policy.sql (ported as the meta package doc says).

-- A namespace's policies (chartroom policy set). signed_only: NULL or false off, true on (a
-- version without a valid signature by a trusted key is quarantined). semver_discipline: NULL
-- or 'off', 'warn', 'enforce' (the bump a publish makes is checked against the change it brings).
ALTER TABLE namespace_settings ADD COLUMN signed_only BOOLEAN;
ALTER TABLE namespace_settings ADD COLUMN semver_discipline TEXT;

-- The keys a namespace trusts (chartroom trust add). kind is 'gpg' (an OpenPGP public key,
-- data its binary serialization, one row per primary key of the keyring added) or 'cosign'
-- (data the PKIX PEM). fingerprint names the key: the OpenPGP fingerprint in upper-case hex,
-- or cosign's "sha256:<hex of the PKIX encoding>".
CREATE TABLE trust_keys (
    namespace   TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('gpg', 'cosign')),
    fingerprint TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    data        BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (namespace, kind, fingerprint)
);

-- The signature status of a chart version, per kind of signature: '' unsigned, 'valid' (by
-- the trusted key *_signer names), 'invalid' (*_error says why). Recorded when the signature
-- arrives, against the keys the namespace trusts then. quarantined: the namespace is
-- signed-only and the version has no valid signature; readers do not see it.
-- release_finding: what a 'warn' semver discipline found wrong with the version's bump.
ALTER TABLE chart_versions ADD COLUMN prov_status TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN prov_signer TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN prov_error TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_status TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_signer TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_error TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN quarantined BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE chart_versions ADD COLUMN release_finding TEXT NOT NULL DEFAULT '';
CREATE INDEX chart_versions_quarantined ON chart_versions (repository_id, manifest_digest) WHERE quarantined;
