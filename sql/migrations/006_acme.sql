-- What serve's ACME scheduler knows of each hosted domain's mta-sts certificate, kept across
-- restarts so that back-off survives them, and the renewal requests of `stsd certs renew`.
CREATE TABLE acme_state (
    domain       TEXT    PRIMARY KEY,
    state        TEXT    NOT NULL DEFAULT '',  -- '' never ordered, pending, ok, failed
    failures     INTEGER NOT NULL DEFAULT 0,   -- consecutive failed orders
    next_attempt INTEGER NOT NULL DEFAULT 0,   -- unix seconds; no order before (0 = none)
    last_attempt INTEGER NOT NULL DEFAULT 0,   -- start of the latest order (0 = never)
    last_success INTEGER NOT NULL DEFAULT 0,   -- the latest certificate installed (0 = never)
    not_after    INTEGER NOT NULL DEFAULT 0,   -- of the certificate ACME last installed
    serial       TEXT,                         -- its serial, hex upper case
    last_error   TEXT,                         -- the latest failure, NULL after a success
    account      TEXT,                         -- the account URL the latest order used
    request      INTEGER NOT NULL DEFAULT 0,   -- 0 none, 1 renew if due, 2 renew now
    requested_at INTEGER NOT NULL DEFAULT 0    -- when that was asked (0 = never)
);
