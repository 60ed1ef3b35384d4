-- 0083_contacts_one_tenant_check: contacts keep one foreign key, not two.
--
-- contacts (tenant_id, list_id) REFERENCES contact_lists (tenant_id, id)
-- already proves the tenant exists (contact_lists.tenant_id references
-- tenants), and deleting a tenant still deletes its contacts: the tenant's
-- lists go with it (ON DELETE CASCADE) and their contacts with them. The
-- direct key to tenants only repeated that check, one index lookup and one
-- row lock per inserted contact: about a sixth of the time a large import
-- spends inserting into contacts (docs/importers.md, "Performance").

ALTER TABLE contacts DROP CONSTRAINT contacts_tenant_id_fkey;
