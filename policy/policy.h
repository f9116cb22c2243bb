/*
 * policy.h - MTA-STS policies (RFC 8461): parsing, validation and formatting of
 * policy files, mx pattern matching, the _mta-sts and _smtp._tls TXT records and their
 * ids. (Where policy files live is hosted/'s business.)
 *
 * Pure code: bytes in, structs out; no sockets, no h2o, no SQLite. The checker
 * uses the same parser on fetched policies.
 */
#ifndef STSD_POLICY_H
#define STSD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_BODY (64 * 1024) /* a body of 64 KiB or more is an error */
#define POLICY_MAX_AGE_LIMIT 31557600L
#define POLICY_ID_MAX 32

enum policy_mode { POLICY_MODE_NONE = 0, POLICY_MODE_TESTING, POLICY_MODE_ENFORCE };

enum policy_severity { POLICY_SEV_WARNING = 1, POLICY_SEV_ERROR = 2 };

/* Machine-readable kind of a diagnostic, so the checker can map it to a finding id. */
enum policy_diag_kind {
    POLICY_DIAG_SYNTAX = 1,    /* any validation error -> sts.policy.syntax */
    POLICY_DIAG_UNKNOWN_KEY,   /* unknown key (warning) -> sts.policy.unknown-key */
    POLICY_DIAG_DUPLICATE_KEY, /* duplicate non-mx key, first wins (warning) */
    POLICY_DIAG_SIZE,          /* body >= 64 KiB (error) */
    POLICY_DIAG_STYLE,         /* tolerated layout: blank line, whitespace before the key or
                                * ':' (warning) -> sts.policy.syntax as a warning */
};

struct policy_diag_item {
    int line; /* 1-based; 0 when it concerns the whole file */
    enum policy_severity severity;
    enum policy_diag_kind kind;
    char message[200]; /* "mode 'Enforce' is not one of enforce, testing, none" */
};

/* Diagnostics collected by the parsers; caller-owned, filled up to a cap. */
struct policy_diag {
    size_t n;                    /* number of items stored (at most 32) */
    size_t n_errors, n_warnings; /* counts, including ones past the cap */
    struct policy_diag_item items[32];
};

struct policy {
    enum policy_mode mode;
    long max_age;
    char **mx; /* patterns as written (lowercased), e.g. "*.example.com" */
    size_t n_mx;
};

/* policy.c */
/*
 * Parse and validate a policy body per RFC 8461 §3.2 (and the limits above). Returns 0 when there
 * is no error (warnings may be present in diag), -1 otherwise; `out` is filled as far as it could
 * be and must be released with policy_clear() either way. `diag` may be NULL.
 */
int policy_parse(const char *buf, size_t len, struct policy *out, struct policy_diag *diag);
void policy_clear(struct policy *p);
/* Canonical text of a policy with CRLF line endings; malloc'd, length in *len. */
char *policy_format(const struct policy *p, size_t *len);
const char *policy_mode_name(enum policy_mode m);
/* "enforce" -> POLICY_MODE_ENFORCE; -1 for anything else (case-sensitive). */
int policy_mode_parse(const char *s);
/* Format the first error (or warning) of diag as "line N: message". */
const char *policy_diag_first(const struct policy_diag *diag, char *buf, size_t bufsz);

/* match.c */
/*
 * RFC 8461 §4.1: does `host` match mx `pattern`? Case-insensitive, a trailing dot on
 * host ignored; "*.example.com" matches exactly one extra left-most label. 1 or 0.
 */
int policy_match_mx(const char *pattern, const char *host);
/* 1 if s is a valid host name in A-labels: common's domain_valid (common/common.h). */
int policy_domain_valid(const char *s);
/* 1 if s is a valid policy mx pattern: a domain, optionally prefixed "*.". */
int policy_mx_pattern_valid(const char *s);
/* Why s is not a valid mx pattern, as a phrase that follows the quoted pattern in a message
 * ("has a trailing dot; remove it"); NULL when it is valid. */
const char *policy_mx_problem(const char *s);
/* 1 if s is 1-32 ALPHA/DIGIT (RFC 8461 §3.1 sts-id). */
int policy_id_valid(const char *s);

/* txt.c - TXT records. The parsers take the joined TXT rdata of one record. */
struct sts_txt {
    char id[POLICY_ID_MAX + 1];
    size_t n_ext; /* extension fields seen */
};
/* 1 if the record starts with "v=STSv1" (then it is an STS record, RFC 8461 §3.1). */
int policy_txt_is_sts(const char *txt);
/* Parse a _mta-sts record. 0 ok, -1 with err filled. `*id_error` is set to 1 when the
 * failure concerns the id field (missing or invalid) rather than general syntax. */
int policy_sts_txt_parse(const char *txt, struct sts_txt *out, int *id_error, char *err,
                         size_t errlen);
/* Format "v=STSv1; id=<id>" into buf. */
const char *policy_sts_txt_format(const char *id, char *buf, size_t bufsz);

struct rpt_txt {
    char **rua; /* each URI, as written (decoded of %2C etc. not applied) */
    size_t n_rua;
};
int policy_txt_is_rpt(const char *txt);
/* Parse a _smtp._tls record (RFC 8460 §3). 0 ok, -1 with err filled. */
int policy_rpt_txt_parse(const char *txt, struct rpt_txt *out, char *err, size_t errlen);
void policy_rpt_txt_clear(struct rpt_txt *r);
/* Format "v=TLSRPTv1; rua=<uri>[,<uri>...]" (malloc'd). */
char *policy_rpt_txt_format(const char *const *rua, size_t n);

/* records.c - the records a hosted domain publishes, as zone-file lines (no newline):
 * `_mta-sts` TXT with `id`, `_smtp._tls` TXT pointing at https://mta-sts.<domain><report_path>,
 * and the mta-sts host's A/AAAA from `addrs`, else from the [server] listen addresses (a
 * "; " comment line where those cannot give the public address or the port is not 443). */
struct policy_dns_lines {
    char **v;
    size_t n;
};
void policy_dns_records(const char *domain, const char *id, const char *report_path,
                        const char *const *addrs, size_t n_addrs, const char *const *listen,
                        size_t n_listen, struct policy_dns_lines *out);
void policy_dns_lines_free(struct policy_dns_lines *l);
/* 1 when s is an IPv4 or IPv6 address. */
int policy_dns_address_valid(const char *s);

/* A new policy id (txt.c: the id the _mta-sts record carries) from the time: "YYYYMMDDTHHMMSS" plus
 * a suffix when `taken` says the plain one is used. `taken` may be NULL. */
void policy_new_id(int64_t now, int (*taken)(void *ctx, const char *id), void *ctx,
                   char out[POLICY_ID_MAX + 1]);

#endif
