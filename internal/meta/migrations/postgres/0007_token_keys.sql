-- chartroom metadata, schema 7: the keys that sign registry tokens (the short-lived JWTs of
-- the token service at /v2/token and of POST /api/oidc/token). Kept in the database so that
-- every replica signs and verifies with the same keys. The newest key not retired signs;
-- a retired key still verifies the tokens it signed until they expired (retired_at plus the
-- server's --token-ttl). private_key is the PKCS #8 DER of an ECDSA P-256 key (ES256).
-- PostgreSQL form of migrations/sqlite/0007_token_keys.sql (ported as the meta package doc says).
CREATE TABLE token_keys (
    id          TEXT    PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BYTEA    NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- A rotation reaches running servers as any other change to who may do what does.
CREATE TRIGGER auth_token_keys_insert AFTER INSERT ON token_keys FOR EACH ROW EXECUTE FUNCTION auth_state_bump();
CREATE TRIGGER auth_token_keys_update AFTER UPDATE ON token_keys FOR EACH ROW EXECUTE FUNCTION auth_state_bump();
CREATE TRIGGER auth_token_keys_delete AFTER DELETE ON token_keys FOR EACH ROW EXECUTE FUNCTION auth_state_bump();
