-- Every distinct content of a domain's policy file, with the id DNS must publish.
CREATE TABLE policy_versions (
    domain     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (domain, id),
    UNIQUE (domain, sha256)
);
