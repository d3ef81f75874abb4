-- chartroom metadata, schema 5: access control. API tokens, roles per namespace (grants),
-- anonymous read per namespace, the audit log, and one counter that every change to who may
-- do what raises.

-- API tokens. A token is "chartroom_<id>_<secret>": id is public (listed, revoked by it),
-- secret_hash is the SHA-256 of the 256-bit random secret (a secret that cannot be guessed
-- needs no slow hash). scopes limit what the token may do ('' none: its user's rights), one
-- "<namespace pattern>:<actions>" per line. last_used_at is written in batches, not per request.
CREATE TABLE tokens (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  BLOB    NOT NULL,
    scopes       TEXT    NOT NULL DEFAULT '',
    description  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

-- Roles per namespace, of a user or of a token. namespace is a namespace ('' the root one),
-- "<namespace>/*" (it and every namespace below it) or "*" (every namespace). One role per
-- subject and namespace: granting again replaces it.
CREATE TABLE grants (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    token_id   TEXT    REFERENCES tokens (id) ON DELETE CASCADE,
    namespace  TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (token_id IS NULL))
);
CREATE UNIQUE INDEX grants_user ON grants (user_id, namespace) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_token ON grants (token_id, namespace) WHERE token_id IS NOT NULL;

-- Anonymous read per namespace: NULL follows serve --anonymous-read, 0 or 1 overrides it.
ALTER TABLE namespace_settings ADD COLUMN anonymous_read INTEGER;

-- Raised by every change to users, tokens (but their last use), grants and anonymous read,
-- whatever makes it (triggers): a running server compares it to reload what it caches.
CREATE TABLE auth_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO auth_state (id, generation) VALUES (1, 1);

CREATE TRIGGER auth_users_insert AFTER INSERT ON users BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_users_update AFTER UPDATE ON users BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_users_delete AFTER DELETE ON users BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_tokens_insert AFTER INSERT ON tokens BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_tokens_update AFTER UPDATE OF user_id, secret_hash, scopes, expires_at, revoked_at ON tokens
    BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_tokens_delete AFTER DELETE ON tokens BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_grants_insert AFTER INSERT ON grants BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_grants_update AFTER UPDATE ON grants BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_grants_delete AFTER DELETE ON grants BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_anonymous_insert AFTER INSERT ON namespace_settings WHEN NEW.anonymous_read IS NOT NULL
    BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_anonymous_update AFTER UPDATE OF anonymous_read ON namespace_settings
    WHEN OLD.anonymous_read IS NOT NEW.anonymous_read
    BEGIN UPDATE auth_state SET generation = generation + 1; END;
CREATE TRIGGER auth_anonymous_delete AFTER DELETE ON namespace_settings WHEN OLD.anonymous_read IS NOT NULL
    BEGIN UPDATE auth_state SET generation = generation + 1; END;

-- Until schema 5 every user could do everything. So that an upgrade locks nobody out, every
-- existing user becomes a global admin (role admin on "*"); the server logs who, once
-- (the setting below), and an operator narrows them with chartroom grant / revoke.
INSERT INTO grants (user_id, namespace, role, created_at)
    SELECT id, '*', 'admin', CAST(strftime('%s', 'now') AS INTEGER) * 1000000000 FROM users;
INSERT INTO settings (key, value)
    SELECT 'upgrade.0005.global_admins', (SELECT group_concat(name, ', ') FROM (SELECT name FROM users ORDER BY name))
    WHERE EXISTS (SELECT 1 FROM users);

-- The audit log: every write and every denied request. Denials alike (same caller, address,
-- action, repository and outcome) that come together are one row with their count. Rows
-- older than serve --audit-retention are removed.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    token_id   TEXT    NOT NULL DEFAULT '',
    address    TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL,
    repository TEXT    NOT NULL DEFAULT '',
    version    TEXT    NOT NULL DEFAULT '',
    digest     TEXT    NOT NULL DEFAULT '',
    outcome    TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    count      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_repository ON audit_log (repository, at);
