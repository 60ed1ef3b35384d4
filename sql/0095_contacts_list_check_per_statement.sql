-- 0095_contacts_list_check_per_statement: a contact's list is checked once
-- per statement, not once per row.
--
-- The foreign key contacts (tenant_id, list_id) -> contact_lists (tenant_id,
-- id) ran an SPI query with a row lock for every inserted contact: the largest
-- single cost of a large import (about 40 % of a COPY into contacts, measured
-- in docs/importers.md, "Performance"). It is replaced by triggers that keep
-- every guarantee the key gave:
--
--   * INSERT: one statement-level check over the statement's new rows (a
--     transition table): each distinct (tenant_id, list_id) must name a list,
--     which is locked FOR KEY SHARE exactly as the key's check locked it, so a
--     concurrent delete of the list waits for the inserting transaction (and
--     then deletes what it inserted), or, when the delete came first, the
--     insert fails. SQLSTATE 23503 as before.
--   * UPDATE of tenant_id or list_id: the same check for that row (rare: no
--     code moves contacts; a lease update never fires it).
--   * DELETE of a list: its contacts are deleted (ON DELETE CASCADE).
--   * A list's key changing (tenant_id) while contacts point at it is refused
--     (NO ACTION), and TRUNCATE contact_lists is refused while contacts exist.
--
-- The trigger functions run as the invoker, under row-level security: a
-- tenant session sees exactly its own lists and contacts, which are the only
-- ones its rows may name (the tenant policy's WITH CHECK), the platform role
-- and superusers see all. The check costs one pass over the new rows (a hash
-- of the distinct lists) plus one lookup per distinct list.

ALTER TABLE contacts DROP CONSTRAINT contacts_tenant_id_list_id_fkey;

CREATE FUNCTION contacts_list_missing(tenant bigint, list bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "contacts" violates foreign key constraint "contacts_list_check"'
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = format('Key (tenant_id, list_id)=(%s, %s) is not present in table "contact_lists".',
                              tenant, list),
              CONSTRAINT = 'contacts_list_check', TABLE = 'contacts';
END
$$;

CREATE FUNCTION contacts_check_lists() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant_id, n.list_id INTO bad
    FROM (SELECT DISTINCT tenant_id, list_id FROM new_contacts) n
    LEFT JOIN LATERAL (SELECT true AS ok FROM contact_lists l
                       WHERE l.tenant_id = n.tenant_id AND l.id = n.list_id
                       FOR KEY SHARE) l ON true
    WHERE l.ok IS NULL
    LIMIT 1;
    IF FOUND THEN
        PERFORM contacts_list_missing(bad.tenant_id, bad.list_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION contacts_check_list_row() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM contact_lists l WHERE l.tenant_id = NEW.tenant_id AND l.id = NEW.list_id
        FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM contacts_list_missing(NEW.tenant_id, NEW.list_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_list_check_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_check_lists();

CREATE TRIGGER contacts_list_check_update AFTER UPDATE OF tenant_id, list_id ON contacts
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.list_id IS DISTINCT FROM NEW.list_id)
    EXECUTE FUNCTION contacts_check_list_row();

CREATE FUNCTION contact_lists_delete_contacts() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM contacts WHERE list_id = OLD.id AND tenant_id = OLD.tenant_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION contact_lists_key_kept() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM contacts WHERE list_id = OLD.id AND tenant_id = OLD.tenant_id) THEN
        RAISE EXCEPTION 'update on table "contact_lists" violates foreign key constraint "contacts_list_check" on table "contacts"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (tenant_id, id)=(%s, %s) is still referenced from table "contacts".',
                                  OLD.tenant_id, OLD.id),
                  CONSTRAINT = 'contacts_list_check', TABLE = 'contact_lists';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION contact_lists_no_truncate() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM contacts) THEN
        RAISE EXCEPTION 'cannot truncate contact_lists while contacts reference it'
            USING ERRCODE = 'foreign_key_violation', HINT = 'Delete the lists, or truncate contacts first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contact_lists_delete_contacts AFTER DELETE ON contact_lists
    FOR EACH ROW EXECUTE FUNCTION contact_lists_delete_contacts();

CREATE TRIGGER contact_lists_key_kept AFTER UPDATE OF id, tenant_id ON contact_lists
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION contact_lists_key_kept();

CREATE TRIGGER contact_lists_no_truncate BEFORE TRUNCATE ON contact_lists
    FOR EACH STATEMENT EXECUTE FUNCTION contact_lists_no_truncate();
