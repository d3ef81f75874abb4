-- chartroom metadata, schema 7: the keys that sign registry tokens (the short-lived JWTs of
-- the token service at /v2/token and of POST /api/oidc/token). Kept in the database so that
-- every replica signs and verifies with the same keys. The newest key not retired signs;
-- a retired key still verifies the tokens it signed until they expired (retired_at plus the
-- server's --token-ttl). private_key is the PKCS #8 DER of an ECDSA P-256 key (ES256).
CREATE TABLE token_keys (
    id          TEXT    PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- A rotation reaches running servers as any other change to who may do what does.
CREATE TRIGGER auth_token_keys_insert AFTER INSERT ON token_keys BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_token_keys_update AFTER UPDATE ON token_keys BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_token_keys_delete AFTER DELETE ON token_keys BEGIN UPDATE auth_state SET generation = generation + 1; END;
