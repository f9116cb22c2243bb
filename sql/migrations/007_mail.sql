-- The e-mail route (SPEC §12) and senders' quirks (SPEC §4).
--   reports.dkim         the DKIM result of the message a report came in: pass, unaligned
--                        (a valid signature of a domain other than the sender's), fail, none,
--                        temperror; NULL for a report that did not come by e-mail
--   reports.dkim_domain  the d= of the signature that decided it (NULL for none)
--   reports.dkim_detail  why (the failure, the temporary error); NULL when there is nothing to say
--   report_policies.domain_inferred
--                        1 when the report named no policy-domain (a no-policy-found policy
--                        from Postfix 3.10's TLSRPT) and policy_domain is the domain the channel
--                        named (TLS-Report-Domain, or the mta-sts.<domain> posted to); a policy
--                        that neither names is stored with policy_domain '' (unattributed)
ALTER TABLE reports ADD COLUMN dkim TEXT;
ALTER TABLE reports ADD COLUMN dkim_domain TEXT;
ALTER TABLE reports ADD COLUMN dkim_detail TEXT;
ALTER TABLE report_policies ADD COLUMN domain_inferred INTEGER NOT NULL DEFAULT 0;
