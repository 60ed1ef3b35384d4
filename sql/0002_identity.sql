-- 0002_identity: users, API keys and refresh tokens.
--
-- Secrets are never stored: API keys and refresh tokens are random values of
-- at least 128 bits whose SHA-256 is kept (a slow password hash buys nothing
-- for such values); passwords are stored as libsodium/Argon2id strings.
-- Lookups that happen before the tenant is known (login by e-mail, API key by
-- prefix, refresh token by hash) go through the platform path
-- (SET LOCAL ROLE dialer_platform), see docs/schema.md.

CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email                text NOT NULL CONSTRAINT users_email_format
                             CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND length(email) <= 254),
    display_name         text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    password_hash        text CHECK (password_hash ~ '^\$[a-z0-9-]+\$'),
    role                 text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    is_platform_operator boolean NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    last_login_at        timestamptz,
    password_changed_at  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

-- One identity per e-mail address across the platform: login needs no tenant.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

COMMENT ON TABLE users IS
    'People who log in to the portal/API. role is their role within their tenant; '
    'is_platform_operator additionally allows the platform (cross-tenant) operations.';
COMMENT ON COLUMN users.password_hash IS
    'A PHC-format hash string (Argon2id from crypto_pwhash_str); NULL until a password is set.';
COMMENT ON COLUMN users.is_platform_operator IS
    'Platform operator: may create and manage tenants through the platform path.';

CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

SELECT app_secure_table('users', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9_]{8,32}$'),
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    role         text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (created_by),
    CHECK (expires_at IS NULL OR expires_at > created_at),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

COMMENT ON TABLE api_keys IS
    'Keys for the REST API. The key is shown once; prefix (its first characters) finds the row, '
    'secret_hash (SHA-256 of the whole key) proves it. Revoked keys are kept for the audit trail.';
COMMENT ON COLUMN api_keys.last_used_at IS
    'Updated at most about once a minute per key by the API, not on every request.';

SELECT app_secure_table('api_keys', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE refresh_tokens (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL,
    family_id      uuid NOT NULL,
    parent_id      uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    token_hash     bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    rotated_at     timestamptz,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse_detected', 'password_change',
                                                  'user_disabled', 'admin')),
    user_agent     text CHECK (length(user_agent) <= 512),
    client_ip      inet,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CHECK (expires_at > issued_at),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id);
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_id) WHERE parent_id IS NOT NULL;

COMMENT ON TABLE refresh_tokens IS
    'Rotating refresh tokens. Each use rotates the token (rotated_at set, a child issued in the same '
    'family); presenting a token that was already rotated is reuse: the whole family is revoked.';
COMMENT ON COLUMN refresh_tokens.family_id IS
    'All tokens descended from one login share it; revoking a family logs that session out.';

SELECT app_secure_table('refresh_tokens', 'SELECT, INSERT, UPDATE, DELETE',
                        'SELECT, INSERT, UPDATE, DELETE');
