-- TLS-RPT reports (RFC 8460 section 4.4) as received over HTTPS or by e-mail.
-- One row per report; (organization_name, report_id) identifies a report, so the same
-- report arriving by both routes is stored once. successful/failed are the sums over
-- the report's policies, kept here so that listing needs no join.
CREATE TABLE reports (
    id                INTEGER PRIMARY KEY,
    organization_name TEXT    NOT NULL,
    report_id         TEXT    NOT NULL,
    contact_info      TEXT,
    start_time        INTEGER NOT NULL,
    end_time          INTEGER NOT NULL,
    received          INTEGER NOT NULL,
    source            TEXT    NOT NULL,
    successful        INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    UNIQUE (organization_name, report_id)
);
-- Covering indexes: a summary over a time window reads index entries only.
CREATE INDEX reports_by_start ON reports (start_time, organization_name, successful, failed);

-- The original bytes exactly as received (gzip or not), apart from the rows above so that
-- list and summary queries never page through them.
CREATE TABLE report_raw (
    report INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    gzip   INTEGER NOT NULL,
    data   BLOB    NOT NULL
);

-- policies[]: policy_string and mx_host are JSON arrays of strings. start_time repeats the
-- report's, so that summaries for one policy-domain read one index range.
CREATE TABLE report_policies (
    id            INTEGER PRIMARY KEY,
    report        INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    start_time    INTEGER NOT NULL,
    policy_type   TEXT    NOT NULL,
    policy_domain TEXT    NOT NULL,
    policy_string TEXT    NOT NULL,
    mx_host       TEXT    NOT NULL,
    successful    INTEGER NOT NULL,
    failed        INTEGER NOT NULL
);
CREATE INDEX report_policies_by_report ON report_policies (report);
CREATE INDEX report_policies_by_domain
    ON report_policies (policy_domain, start_time, report, successful, failed);

-- policies[].failure-details[]; result_type is kept as sent, also unknown types. report and
-- start_time repeat the report's, so that the failure breakdowns read failure rows only.
CREATE TABLE failure_details (
    id                     INTEGER PRIMARY KEY,
    policy                 INTEGER NOT NULL REFERENCES report_policies (id) ON DELETE CASCADE,
    report                 INTEGER NOT NULL,
    start_time             INTEGER NOT NULL,
    result_type            TEXT    NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_session_count   INTEGER NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT
);
CREATE INDEX failure_details_by_policy ON failure_details (policy);
CREATE INDEX failure_details_by_start ON failure_details
    (start_time, report, result_type, failed_session_count, receiving_mx_hostname, receiving_ip);
