-- chartroom metadata, schema 9: trust and release policies per namespace, and the signature
-- status of every chart version.

-- A namespace's policies (chartroom policy set). signed_only: NULL or 0 off, 1 on (a version
-- without a valid signature by a trusted key is quarantined). semver_discipline: NULL or 'off',
-- 'warn', 'enforce' (the bump a publish makes is checked against the change it brings).
ALTER TABLE namespace_settings ADD COLUMN signed_only INTEGER;
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
    data        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, kind, fingerprint)
);

-- The signature status of a chart version, per kind of signature: '' unsigned, 'valid' (by
-- the trusted key *_signer names), 'invalid' (*_error says why: a bad signature, a key the
-- namespace does not trust). Recorded when the signature arrives (the .prov with the chart or
-- attached after it; a cosign signature pushed as a .sig tag or a sigstore bundle referrer),
-- against the keys the namespace trusts then. quarantined: the namespace is signed-only and
-- the version has no valid signature; readers do not see it. release_finding: what a 'warn'
-- semver discipline found wrong with the version's bump ('' nothing).
ALTER TABLE chart_versions ADD COLUMN prov_status TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN prov_signer TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN prov_error TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_status TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_signer TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN cosign_error TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chart_versions ADD COLUMN release_finding TEXT NOT NULL DEFAULT '';
CREATE INDEX chart_versions_quarantined ON chart_versions (repository_id, manifest_digest) WHERE quarantined;
