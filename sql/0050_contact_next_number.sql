-- 0050_contact_next_number: which of a contact's numbers the next attempt
-- dials (0 = number, 1.. = alt_numbers[n]), set by the campaign's
-- alternate-numbers policy when an attempt ends (campaign/settings.c,
-- campaign_retry_decide). A constant default: no table rewrite.

ALTER TABLE contacts
    ADD COLUMN next_number smallint NOT NULL DEFAULT 0
        CONSTRAINT contacts_next_number_range CHECK (next_number BETWEEN 0 AND 9);

COMMENT ON COLUMN contacts.next_number IS
    'The number the next attempt dials: 0 = number, n = alt_numbers[n] (1-based), '
    'chosen by the campaign''s alternate-numbers policy.';
