/*
 * reports.h - TLS-RPT reports (RFC 8460 §4): parsing and validation with jansson,
 * bounded gunzip with zlib, extraction of report parts from e-mail with gmime, and the
 * summary arithmetic. The parsers take bytes and return structs: no sockets, no SQLite.
 */
#ifndef STSD_REPORTS_H
#define STSD_REPORTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on what one report may hold (chosen far above what real senders send). */
#define REPORT_MAX_POLICIES 1000
#define REPORT_MAX_FAILURE_DETAILS 10000 /* per policy */
#define REPORT_MAX_STRINGS 1000          /* policy-string / mx-host entries per policy */
#define REPORT_MAX_STRING 4096           /* bytes in any one string field */

/* An error: what is wrong and where (a JSON path such as "policies[0].summary"). */
struct report_error {
    char path[128];
    char message[256];
};

struct report_failure {
    char *result_type; /* kept as sent, also unknown types */
    char *sending_mta_ip;
    char *receiving_mx_hostname;
    char *receiving_mx_helo;
    char *receiving_ip;
    int64_t failed_session_count;
    char *additional_information;
    char *failure_reason_code;
};

struct report_policy {
    char *policy_type; /* "sts", "tlsa" or "no-policy-found" */
    char **policy_string;
    size_t n_policy_string;
    char *policy_domain; /* lowercased, no trailing dot; NULL: a no-policy-found policy that
                            names none (Postfix 3.10's TLSRPT) and no channel named one */
    int domain_inferred; /* 1: policy_domain was not in the report; report_attribute took it
                            from the channel */
    char **mx_host;      /* "mx: " prefixes removed; a single string becomes one entry */
    size_t n_mx_host;
    int64_t total_successful; /* summary.total-successful-session-count */
    int64_t total_failure;    /* summary.total-failure-session-count */
    struct report_failure *failures;
    size_t n_failures;
};

struct report {
    char *organization_name;
    char *contact_info; /* NULL when absent or null */
    char *report_id;
    time_t start, end; /* date-range, UTC */
    struct report_policy *policies;
    size_t n_policies;
};

/* report.c */
/*
 * Parse and validate one report (UTF-8 JSON, not NUL-terminated). Returns 0 and fills
 * `out` (release with report_clear), or -1 with `err` saying what and where.
 * Rules beyond RFC 8460 §4: duplicate keys, an empty organization-name or report-id and
 * nesting deeper than the schema (also inside unknown members) are rejected; unknown
 * members are ignored; an empty policies array is a valid report with n_policies 0;
 * null optional strings read as absent (NULL); a leading UTF-8 BOM is skipped; a
 * policy-string that is one string holding a JSON array of strings is split into its
 * entries; mx-host entries lose a "mx:" prefix; counts are 0..2^53; a no-policy-found
 * policy may leave policy-domain out (or null): policy_domain NULL.
 */
int report_parse(const char *json, size_t len, struct report *out, struct report_error *err);
/*
 * Give the policies that name no policy-domain (policy_domain NULL: Postfix 3.10 sends
 * no-policy-found policies so) the domain the channel names: the e-mail's TLS-Report-Domain,
 * or the <domain> of the mta-sts.<domain> an HTTPS report was posted to. channel_domain is
 * normalised (domain_normalise); NULL, "" or not a domain name leaves them unattributed
 * (policy_domain stays NULL). Marks the ones it fills with domain_inferred. Run it after
 * report_prepare_store, so that the digest is of the report as sent.
 */
void report_attribute(struct report *r, const char *channel_domain);
/* How output names the policy-domain of a policy that has none (stored as ''). */
#define REPORT_UNATTRIBUTED "(unattributed)"
/* "path: message" into buf (always NUL-terminated); returns buf. */
const char *report_error_text(const struct report_error *err, char *buf, size_t bufsz);

/* clear.c (a library of its own, reports_types, that sql/ links too) */
/* Free every field of r with free() (so a report built by hand with malloc'd strings may be
 * cleared too) and zero it. report_clear(NULL) is a no-op. */
void report_clear(struct report *r);
/* Free the strings of one failure detail (not the struct itself). */
void report_failure_clear(struct report_failure *f);

/* details.c */
/*
 * What makes two copies of a report "the same content" (RFC 8460 reports may arrive twice,
 * by HTTPS and by e-mail): the SHA-256 of a canonical form of the parsed report, every
 * field in document order, strings with their length, NULL distinct from "". So gzip or
 * not, whitespace, member order, number spelling and unknown members do not matter;
 * any difference in a field that is stored does.
 */
#define REPORT_DIGEST_LEN 32
void report_digest(const struct report *r, unsigned char out[REPORT_DIGEST_LEN]);
/*
 * Bound the failure-detail rows of a report ([reports] max_detail_rows): when the
 * report holds more than max_rows details, each policy keeps its first ones as they are
 * and the rest become one row per (policy, result-type) with failed-session-count summed
 * (saturating), every other field NULL but additional-information, which says
 * "stsd: N failure-details merged ...". Per-policy and per-result-type totals stay exact.
 * At most max_rows rows remain, unless the report has more distinct (policy, result-type)
 * pairs than that: then exactly one row per pair. Returns the number of details merged.
 */
size_t report_merge_details(struct report *r, uint64_t max_rows);
/* What every store path runs before db_report_store: the digest of the report as received,
 * then report_merge_details. Returns the number of details merged. */
size_t report_prepare_store(struct report *r, uint64_t max_detail_rows,
                            unsigned char digest[REPORT_DIGEST_LEN]);

/* gunzip.c */
/* 1 if the buffer starts with the gzip magic 1f 8b. */
int report_is_gzip(const void *buf, size_t len);
enum report_gunzip_result {
    REPORT_GUNZIP_OK = 0,
    REPORT_GUNZIP_TOO_BIG = -1, /* output would pass `cap` bytes */
    REPORT_GUNZIP_CORRUPT = -2, /* not gzip, truncated, bad CRC */
};
/*
 * Inflate gzip data (several members are concatenated; one layer only: the output is not
 * inflated again) into a malloc'd buffer of at most `cap` bytes, NUL-terminated.
 * Stops as soon as the cap is passed, so memory stays bounded by cap.
 */
enum report_gunzip_result report_gunzip(const void *in, size_t inlen, size_t cap, char **out,
                                        size_t *outlen);
/*
 * Measure before allocating: inflate gzip data into a fixed window on the stack, counting
 * the bytes without keeping them. *outlen is what report_gunzip would produce. TOO_BIG when
 * that passes `cap`, or when it is itself gzip (a gzip inside the gzip) that inflates past
 * `cap`: either way a bomb costs CPU up to the cap and no memory. CORRUPT exactly when
 * report_gunzip would say so (for the outer layer).
 */
enum report_gunzip_result report_gunzip_measure(const void *in, size_t inlen, size_t cap,
                                                size_t *outlen);
/* A fixed message for a result ("gzip: ..."), for logs and 400/413 answers. */
const char *report_gunzip_strerror(enum report_gunzip_result r);

/* body.c: the budget */
/*
 * A budget of bytes shared by threads (lock-free): what every report being inflated, parsed
 * or waiting to be stored holds at once ([reports] parse_memory). Work reserves its bytes
 * before it allocates them and gives them back when it frees them.
 */
struct report_budget {
    atomic_size_t used;
    size_t cap;
};
void report_budget_init(struct report_budget *b, size_t cap);
/* Reserve n bytes: 0, or -1 (nothing reserved) when they do not fit. A NULL budget always
 * has room. */
int report_budget_take(struct report_budget *b, size_t n);
/* Give back n bytes taken before. NULL is a no-op. */
void report_budget_give(struct report_budget *b, size_t n);
/* Bytes reserved now. */
size_t report_budget_used(struct report_budget *b);

/* prescan.c */
/* Deepest nesting the pre-scan follows: jansson's own limit (JSON_PARSER_MAX_DEPTH). */
#define REPORT_PRESCAN_MAX_DEPTH 2048
enum report_prescan_result {
    REPORT_PRESCAN_OK = 0,
    REPORT_PRESCAN_TOO_MANY = -1, /* more than max_values values */
    REPORT_PRESCAN_INVALID = -2,  /* not a JSON text (RFC 8259) */
};
struct report_prescan {
    size_t values;    /* values seen (max_values + 1 when there are too many) */
    size_t max_depth; /* deepest nesting of objects and arrays seen */
    size_t offset;    /* where the scan ended: len, or the byte it stopped at */
};
/*
 * Count the values of a JSON text in one linear pass, allocating nothing, and stop at the
 * first one past max_values. A value is every object, array, string, number, true, false
 * and null, at any depth, the outermost one included; an object member's name is not a
 * value (each name has exactly one value, so the count bounds the names too). So
 * {"a":[1,{}]} holds 4 values. The structure is checked (RFC 8259 grammar, nesting up to
 * REPORT_PRESCAN_MAX_DEPTH, nothing after the text) but not UTF-8, surrogates, \u0000 or
 * duplicate names: those are the parser's. Whatever jansson accepts, this accepts with the
 * same count of values (fuzz/fuzz_prescan.c checks it). A leading UTF-8 BOM is skipped.
 * `out` may be NULL.
 */
enum report_prescan_result report_prescan(const char *json, size_t len, size_t max_values,
                                          struct report_prescan *out);

/* body.c: the intake step */
/* Bytes jansson 2.14 takes per JSON value at most, measured on x86-64 glibc: 235 for an
 * empty object in an array (its hashtable and buckets), 139 for an empty array, 91 for an
 * empty string, 43 for a number, 11 for null; members add a pair (~100 with a short key).
 * The text itself (string contents and names) is budgeted as the length of the JSON. */
#define REPORT_JSON_BYTES_PER_VALUE 256
/* Bytes a parsed struct report takes per JSON value at most, beyond the text's length: a
 * failure-detail struct is 64 bytes, each string one allocation (malloc rounds to 32). */
#define REPORT_BYTES_PER_VALUE 64
/* The default of [reports] max_values. */
#define REPORT_DEFAULT_MAX_VALUES 100000
struct report_body_limits {
    size_t max_json;              /* bytes of JSON, plain or inflated */
    size_t max_values;            /* JSON values (report_prescan) */
    struct report_budget *budget; /* NULL: no memory budget */
    /* 1: handle only bodies of at most REPORT_BODY_QUICK bytes of JSON (a millisecond or
     * two of work); for a larger one return REPORT_BODY_LARGE at once, having done little
     * (at most inflating REPORT_BODY_QUICK bytes) and holding nothing. */
    int quick;
};
#define REPORT_BODY_QUICK (64 * 1024)
#define REPORT_BODY_LARGE 1
/*
 * The whole intake step for one body (an HTTPS POST or an extracted e-mail part): when it
 * starts with the gzip magic, measure what it inflates to (report_gunzip_measure) and
 * inflate it into a buffer of exactly that size; pre-scan the JSON (report_prescan); then
 * report_parse. Each allocation is reserved in lim->budget before it is made: the JSON
 * text, then its value count times REPORT_JSON_BYTES_PER_VALUE for jansson's tree and
 * REPORT_BYTES_PER_VALUE for the struct report. On return everything but the struct
 * report's share is given back; *held (may be NULL) is set to that share, which the
 * caller gives back when it frees the report.
 * Returns 0 with `out` filled (release with report_clear), REPORT_BODY_LARGE (only with
 * lim->quick), or the HTTP status to answer:
 * 413 when it inflates past max_json or holds more than max_values values, 503 when the
 * budget has no room, 400 for corrupt gzip or an invalid report, with `err` filled (gzip,
 * size and budget errors have the path "body").
 */
int report_parse_body_limited(const void *body, size_t len, const struct report_body_limits *lim,
                              struct report *out, size_t *held, struct report_error *err);
/* report_parse_body_limited with max_json, REPORT_DEFAULT_MAX_VALUES and no budget. */
int report_parse_body(const void *body, size_t len, size_t max_json, struct report *out,
                      struct report_error *err);

/* mime.c */
struct report_part {
    char *data; /* the decoded part (gzip or JSON bytes), malloc'd */
    size_t len;
    int gzip;       /* 1 for application/tlsrpt+gzip or a .gz file name */
    char *filename; /* NULL if none */
};
/*
 * Extract the TLS-RPT parts of one RFC 5322 message (application/tlsrpt+gzip,
 * application/tlsrpt+json, or an application/octet-stream part named *.json / *.json.gz).
 * *parts is malloc'd; free with report_parts_free. Returns the number of parts found
 * (0 is not an error) or -1 when the message cannot be parsed, with err filled.
 * Caps: message size REPORT_MAX_MESSAGE, parts REPORT_MAX_PARTS.
 */
#define REPORT_MAX_MESSAGE (50 * 1024 * 1024)
#define REPORT_MAX_PARTS 32
/* What the message's headers say about its reports (RFC 8460 §5.3), each normalised with
 * domain_normalise (lowercase, no trailing dot) or "" when absent or not a domain name:
 * report_domain from TLS-Report-Domain, submitter from TLS-Report-Submitter, from_domain the
 * domain of the first From: address (what a DKIM signature's d= is aligned with). */
struct report_mime_info {
    char report_domain[256];
    char submitter[256];
    char from_domain[256];
};
/* info may be NULL; when not, it is filled whenever the message parses (also with 0 parts). */
int report_mime_extract(const char *msg, size_t len, struct report_part **parts,
                        struct report_mime_info *info, struct report_error *err);
void report_parts_free(struct report_part *parts, int n);

/* advise.c */
/*
 * The next step of a hosted policy towards enforce (RFC 8461 §5: testing before enforce), and
 * what blocks it. The thresholds for enforce:
 *   - reports starting on at least REPORT_ADVISE_MIN_DAYS distinct UTC days within the window
 *     (default the last REPORT_ADVISE_WINDOW_DAYS days): reporters send one report a day, so
 *     two weeks of reports means the main senders have seen the policy;
 *   - failed sessions at most REPORT_ADVISE_MAX_FAILURE_RATE of all sessions: in enforce mode
 *     each of them would be a message not delivered;
 *   - the latest stored self-check has no error finding (and there is one).
 */
#define REPORT_ADVISE_MIN_DAYS 14
#define REPORT_ADVISE_WINDOW_DAYS 30
#define REPORT_ADVISE_MAX_FAILURE_RATE 0.001
#define REPORT_ADVISE_GOOD_MAX_AGE 604800L /* one week: RFC 8461 §3.2 suggests weeks */
#define REPORT_ADVICE_MAX_BLOCKERS 8
struct report_advise_in {
    int valid;                  /* the policy parses */
    const char *invalid_reason; /* when not valid */
    const char *mode;           /* "none", "testing" or "enforce" (when valid) */
    long max_age;
    int64_t days;               /* days with reports in the window */
    int64_t successful, failed; /* sessions in the window */
    int have_check;             /* a self-check is stored */
    int check_errors;           /* error findings of the latest one */
};
struct report_advice {
    const char *target; /* the next mode ("testing", "enforce"), NULL: nothing to do */
    int ready;          /* target set and nothing blocks it */
    int raise_max_age;  /* enforce already; only max_age is short */
    long max_age;       /* the max_age of the next step */
    int64_t total;      /* sessions */
    double failure_rate;
    size_t n_blockers;
    struct {
        const char *id; /* "policy-invalid", "too-few-days", "failures", "no-check",
                           "check-errors" */
        char message[300];
    } blockers[REPORT_ADVICE_MAX_BLOCKERS];
};
void report_advise(const struct report_advise_in *in, struct report_advice *out);

/* summary.c */
/*
 * Summaries of stored reports and the JSON/CSV/text forms of summaries, report
 * lists and single reports, shared by `stsd reports` and the admin API. sql/ fills these
 * structs (db_report_summary, db_report_list, db_report_get); this file sorts, computes
 * rates and renders. Nothing here touches SQLite.
 *
 * Time semantics: a report belongs to the window [since, until) when its
 * date-range.start-datetime lies in it (end excluded). With a domain filter only the
 * report's policies for that policy-domain count. Sessions come from the policies'
 * summary totals; by_result_type and by_mx come from failure-details, whose counts real
 * senders let exceed the failure total, so those lists need not add up to `failed`.
 * The mx of a failure detail is its receiving-mx-hostname (lowercased, trailing dot
 * removed), else its receiving-ip, else "(unknown)".
 */
#include <stdio.h> /* FILE */
struct json_t;     /* jansson's json_t */

enum report_group {
    REPORT_BY_NONE = 0,
    REPORT_BY_DAY,      /* UTC day of start-datetime, "YYYY-MM-DD" */
    REPORT_BY_DOMAIN,   /* policy-domain */
    REPORT_BY_MX,       /* failure-details mx (see above); successful = -1 */
    REPORT_BY_REPORTER, /* organization-name */
    REPORT_BY_RESULT,   /* failure-details result-type; successful = -1 */
};

struct report_summary_row {
    char *key;
    int64_t reports;    /* distinct reports contributing to this row */
    int64_t successful; /* -1 where it does not apply (rows from failure-details) */
    int64_t failed;
};

struct report_summary_rows {
    struct report_summary_row *v;
    size_t n;
};

struct report_summary {
    /* query: set by the caller before db_report_summary */
    int64_t since, until; /* [since, until), unix seconds */
    const char *domain;   /* NULL = every policy-domain; not owned */
    enum report_group by; /* REPORT_BY_NONE = no `groups` */
    /* result */
    int64_t reports, successful, failed;
    int64_t conflicts; /* conflicting copies left out of every count above and below */
    struct report_summary_rows by_result_type, by_mx, by_reporter, groups;
};

/* One stored report without its policies (a row of `stsd reports list`). */
struct report_listing {
    int64_t id;
    char *organization_name;
    char *report_id;
    char *contact_info; /* NULL when absent */
    char *source;       /* "https", "email" or "file" */
    int64_t start, end, received;
    int64_t successful, failed; /* sums over all the report's policies */
    char **domains;             /* distinct policy-domains */
    size_t n_domains;
    int gzip;        /* the raw bytes are gzip */
    int64_t rawsize; /* length of the raw bytes */
    /* Copies with the same (organization-name, report-id) and other content (a forged copy, or the
     * genuine one after it) */
    int64_t conflict_of; /* this is a later copy of report conflict_of; 0 when not */
    int64_t conflicts;   /* later copies that conflict with this one */
    int counted;         /* 1 when summaries count this copy */
    /* The DKIM result of the message it came in (SPEC §12): NULL when it did not come by
     * e-mail, else "pass", "unaligned", "fail", "none" or "temperror"; the d= that decided
     * it and why (NULL when there is nothing to say). */
    char *dkim, *dkim_domain, *dkim_detail;
};

/* "day", "domain", "mx", "reporter", "result" (also "none"); 0 or -1. */
int report_group_parse(const char *s, enum report_group *out);
const char *report_group_name(enum report_group by);
/* successful / (successful + failed), or -1 when there were no sessions. */
double report_success_rate(int64_t successful, int64_t failed);
/* Sort the lists: by_result_type, by_mx and the mx/result/domain/reporter groups by failed
 * sessions (most first), by_reporter by reports (most first), day groups by date; ties by key. */
void report_summary_sort(struct report_summary *s);
/* The summary object (since, until, totals, by_result_type, by_mx, by_reporter; with
 * "domain", "by" and "groups"); new reference. */
struct json_t *report_summary_json(const struct report_summary *s);
/* CSV (RFC 4180): with `by` set, one row per group, else one row per breakdown entry. */
void report_summary_csv(const struct report_summary *s, FILE *out);
void report_summary_text(const struct report_summary *s, FILE *out);
/* "YYYY-MM-DD" at midnight UTC, else "YYYY-MM-DDTHH:MM:SSZ", into buf[21]. */
void report_format_time(int64_t t, char buf[21]);

/* The list of stored reports: {"since","until","reports":[...]}; CSV; a text table. */
struct json_t *report_list_json(const struct report_listing *v, size_t n, int64_t since,
                                int64_t until);
void report_list_csv(const struct report_listing *v, size_t n, FILE *out);
void report_list_text(const struct report_listing *v, size_t n, FILE *out);
/* One stored report with its policies and failure details. */
struct json_t *report_detail_json(const struct report_listing *meta, const struct report *r);
void report_detail_text(const struct report_listing *meta, const struct report *r, FILE *out);

#endif
