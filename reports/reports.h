/*
 * reports.h - TLS-RPT reports (RFC 8460 §4): parsing and validation with jansson,
 * bounded gunzip with zlib, extraction of report parts from e-mail with gmime, and the
 * summary arithmetic. The parsers take bytes and return structs: no sockets, no SQLite.
 */
#ifndef STSD_REPORTS_H
#define STSD_REPORTS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on what one report may hold (SPEC §4; chosen far above what real senders send). */
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
    char *policy_domain; /* lowercased, no trailing dot */
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
 */
int report_parse(const char *json, size_t len, struct report *out, struct report_error *err);
void report_clear(struct report *r);

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
int report_mime_extract(const char *msg, size_t len, struct report_part **parts,
                        struct report_error *err);
void report_parts_free(struct report_part *parts, int n);

#endif
