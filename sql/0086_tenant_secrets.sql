-- 0086_tenant_secrets: a tenant's named secrets for api_call headers and auth.
--
-- Values are stored encrypted only: libsodium crypto_secretbox (XSalsa20-
-- Poly1305) under the platform key (secrets.key / DIALERD_SECRETS_KEY or
-- secrets.key-file), a random 24-byte nonce per write. The database never
-- sees a plaintext value; the API lists names and times only. Each row is
-- sealed under a key derived from the platform key, the tenant and the name
-- (see api/api_secrets.c), so a row copied to another tenant or name does
-- not open.

CREATE TABLE tenant_secrets (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CONSTRAINT tenant_secrets_name_format CHECK (name ~ '^[a-z0-9_]{1,64}$'),
    ciphertext  bytea NOT NULL CONSTRAINT tenant_secrets_ciphertext_size
                    CHECK (octet_length(ciphertext) BETWEEN 16 AND 8192),
    nonce       bytea NOT NULL CONSTRAINT tenant_secrets_nonce_size CHECK (octet_length(nonce) = 24),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT app_actor(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TRIGGER tenant_secrets_touch BEFORE UPDATE ON tenant_secrets
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

COMMENT ON TABLE tenant_secrets IS
    'Named secrets of a tenant (API tokens for api_call), encrypted with crypto_secretbox; '
    'never plaintext, never listed with values.';

SELECT app_secure_table('tenant_secrets', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT');
