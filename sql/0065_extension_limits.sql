-- 0065_extension_limits: a per-extension limit of concurrent inbound calls.
--
-- NULL: the platform default (ext.max-per-extension); 0: unlimited; n: at
-- most n calls at once on this extension, counted over every dialerd node
-- (Redis). Set by the tenant (PATCH /api/v1/extensions/{ext}). A constant
-- NULL default: no table rewrite.

ALTER TABLE extensions
    ADD COLUMN max_calls integer
        CONSTRAINT extensions_max_calls_range CHECK (max_calls IS NULL OR max_calls BETWEEN 0 AND 100000);

GRANT UPDATE (max_calls) ON extensions TO dialer_app;

COMMENT ON COLUMN extensions.max_calls IS
    'Concurrent inbound calls on this extension: NULL the platform default, 0 unlimited.';

-- Releasing clears the per-extension settings with the binding.
ALTER TABLE extensions ADD CONSTRAINT extensions_free_no_limit
    CHECK (state = 'assigned' OR max_calls IS NULL);
