-- Copies of a report that differ (a forged early copy, or the genuine one after it): a second report with the same
-- (organization_name, report_id) but other content is stored too, so that a forged early
-- copy cannot suppress the genuine one. The table is rebuilt without its UNIQUE constraint
-- (SQLite cannot drop one); db_open turns foreign keys on only after the migrations, so the
-- DROP below cascades nothing.
--   digest       SHA-256 of the parsed content (report_digest); NULL for rows stored
--                before this migration (a copy of those is taken as a duplicate)
--   conflict_of  the first stored copy, for every later copy with other content
--   counted      1 for the copy of its group that summaries count (the first stored one)
CREATE TABLE reports_new (
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
    digest            BLOB,
    conflict_of       INTEGER REFERENCES reports (id) ON DELETE SET NULL,
    counted           INTEGER NOT NULL DEFAULT 1
);
INSERT INTO reports_new (id, organization_name, report_id, contact_info, start_time, end_time,
                         received, source, successful, failed)
    SELECT id, organization_name, report_id, contact_info, start_time, end_time, received,
           source, successful, failed FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;

CREATE INDEX reports_by_start ON reports (start_time, organization_name, successful, failed);
CREATE INDEX reports_by_key ON reports (organization_name, report_id, digest);
-- Few rows: the copies of conflict groups, and the copies summaries leave out.
CREATE INDEX reports_conflicts ON reports (conflict_of) WHERE conflict_of IS NOT NULL;
CREATE INDEX reports_uncounted ON reports (id) WHERE counted = 0;
