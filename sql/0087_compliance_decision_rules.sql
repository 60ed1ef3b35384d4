-- 0087_compliance_decision_rules: the dialer records every blocked attempt
-- (calling windows, frequency caps, the cap store away, stale or missing
-- national lists, DNC lists), not only DNC refusals; the decisions route
-- filters by rule, and the recorder's repeat check looks up a contact's rows
-- by rule. No data changes.

CREATE INDEX compliance_decisions_rule_idx ON compliance_decisions (tenant_id, rule, id);
CREATE INDEX compliance_decisions_contact_rule_idx ON compliance_decisions (contact_id, rule)
    WHERE contact_id IS NOT NULL;

COMMENT ON COLUMN compliance_decisions.rule IS
    'The deciding rule, family.id with the id''s "-" written "_": dnc.national, dnc.tenant, '
    'dnc.campaign, dnc.list_stale, dnc.list_missing, dnc.unavailable, window.<rule id> '
    '(window.us_tcpa_hours, window.us_fl_hours, window.fr_weekend, ...), window.campaign (the '
    'campaign''s own schedule), cap.<cap rule id> (cap.us_fl_3_per_24h, cap.gb_72h_after_abandon, '
    '...), cap.unavailable (the cap store did not answer: fail closed), number.invalid.';
COMMENT ON COLUMN compliance_decisions.data_versions IS
    'Versions and facts that decided: ruleset, tzdata, phone_data; zone and local_time (the '
    'contact''s local time in the zone used); rule_source; DNC: dnc_list_id, dnc_list, dnc_scope, '
    'dnc_list_date; caps: cap_rule, cap_window_s, cap_limit and cap_count (rolling) or cap_event '
    '(lockout).';
