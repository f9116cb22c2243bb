-- Every change made to what stsd hosts (policy put, enforce, withdrawal, removal,
-- certificate install), newest last: who, what, which domain, and the policy ids before and
-- after (NULL when not applicable).
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,  -- unix seconds
    actor  TEXT    NOT NULL,  -- cli, api, dashboard, stsd
    action TEXT    NOT NULL,  -- policy.create, policy.change, enforce, withdraw, remove, certificate
    domain TEXT    NOT NULL,
    old_id TEXT,
    new_id TEXT,
    detail TEXT
);
CREATE INDEX audit_by_domain ON audit (domain, id);

-- Withdrawals under way (RFC 8461 section 8.3): the domain serves mode none with a new id
-- until `until` (the start plus the max_age of the policy withdrawn), then its file goes.
CREATE TABLE withdrawals (
    domain  TEXT    PRIMARY KEY,
    started INTEGER NOT NULL,
    until   INTEGER NOT NULL,
    old_id  TEXT
);
