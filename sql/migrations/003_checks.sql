-- Results of the scheduled self-checks (`stsd serve`, [checks]) and of nothing else:
-- one row per run of the checker on one domain, with the checker's JSON kept whole.
CREATE TABLE checks (
    id          INTEGER PRIMARY KEY,
    domain      TEXT    NOT NULL,
    started     INTEGER NOT NULL,  -- unix seconds
    duration_ms INTEGER NOT NULL,
    status      INTEGER NOT NULL,  -- the checker's exit status: 0, 1, 2 or 69
    errors      INTEGER NOT NULL,
    warnings    INTEGER NOT NULL,
    infos       INTEGER NOT NULL,
    dns_id      TEXT,              -- the id _mta-sts.<domain> published, NULL if none
    result      TEXT    NOT NULL   -- the checker's JSON (`stsd check --json` of one domain)
);
CREATE INDEX checks_by_domain ON checks (domain, started);

-- The findings of each run, so that a regression (a new error) is one query away.
CREATE TABLE check_findings (
    id       INTEGER PRIMARY KEY,
    check_id INTEGER NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
    finding  TEXT    NOT NULL,     -- the stable id, e.g. mx.cert.expired
    severity TEXT    NOT NULL,     -- error, warning, info
    subject  TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX check_findings_by_check ON check_findings (check_id);
