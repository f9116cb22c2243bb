/* report.c - parse and validate one TLS-RPT JSON report (RFC 8460 §4.4) into a struct report. */
#include "reports/reports.h"
#include "reports/reports_int.h"

#include "common/common.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Counts are JSON numbers; above 2^53 they lose precision in most JSON readers (RFC 8259 §6). */
#define COUNT_MAX (INT64_C(1) << 53)

void report__set_errorv(struct report_error *err, const char *path, const char *fmt, va_list ap)
{
    if (err == NULL)
        return;
    snprintf(err->path, sizeof err->path, "%s", path[0] != '\0' ? path : "$");
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

void report__set_error(struct report_error *err, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report__set_errorv(err, path, fmt, ap);
    va_end(ap);
}

int report__ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    if (n < m)
        return 0;
    return strncasecmp(s + n - m, suffix, m) == 0;
}

void report_attribute(struct report *r, const char *channel_domain)
{
    char d[256];
    if (channel_domain == NULL || domain_normalise(channel_domain, d, sizeof(d)) != 0)
        return;
    for (size_t i = 0; i < r->n_policies; i++) {
        struct report_policy *p = &r->policies[i];
        if (p->policy_domain == NULL) {
            p->policy_domain = xstrdup(d);
            p->domain_inferred = 1;
        }
    }
}

const char *report_error_text(const struct report_error *err, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s: %s", err->path, err->message);
    return buf;
}

/* The JSON path of the value being read, grown and shrunk as the walk descends. */
struct pctx {
    struct report_error *err;
    char path[128];
    size_t len;
};

static void path_add(struct pctx *p, const char *s, size_t n)
{
    if (p->len + n >= sizeof p->path)
        n = sizeof p->path - 1 - p->len;
    memcpy(p->path + p->len, s, n);
    p->len += n;
    p->path[p->len] = '\0';
}

/* Append ".key" (or "key" at the root); returns the length to restore with path_pop. */
static size_t path_key(struct pctx *p, const char *key)
{
    size_t old = p->len;
    if (p->len > 0)
        path_add(p, ".", 1);
    path_add(p, key, strlen(key));
    return old;
}

static size_t path_idx(struct pctx *p, size_t i)
{
    char b[32];
    size_t old = p->len;
    int n = snprintf(b, sizeof b, "[%zu]", i);
    path_add(p, b, (size_t)n);
    return old;
}

static void path_pop(struct pctx *p, size_t old)
{
    p->len = old;
    p->path[old] = '\0';
}

static int fail(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct pctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report__set_errorv(p->err, p->path, fmt, ap);
    va_end(ap);
    return -1;
}

/* Fail on `key` of the current object without keeping it in the path. */
static int fail_key(struct pctx *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_key(struct pctx *p, const char *key, const char *fmt, ...)
{
    size_t old = path_key(p, key);
    va_list ap;
    va_start(ap, fmt);
    report__set_errorv(p->err, p->path, fmt, ap);
    va_end(ap);
    path_pop(p, old);
    return -1;
}

/* Containers nested in v, counting v itself (0 for a scalar); stops counting once past
 * `limit`, so a deep unknown member costs no more than the limit. */
static int json_depth(json_t *v, int limit)
{
    int d = 0, sub;
    size_t i;
    const char *k;
    json_t *x;
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (limit <= 0)
        return 1;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            if ((sub = json_depth(x, limit - 1)) > d)
                d = sub;
            if (d + 1 > limit)
                break;
        }
    } else {
        json_array_foreach(v, i, x)
        {
            if ((sub = json_depth(x, limit - 1)) > d)
                d = sub;
            if (d + 1 > limit)
                break;
        }
    }
    return d + 1;
}

struct field {
    const char *name;
    json_t *v;
};

/*
 * Sort the members of `obj` into the known `fields` (one pass over the object, no hash
 * lookups). Unknown members are ignored, as RFC 8460 §4.4 lets reports grow, but their
 * content must fit in the schema's depth: `depth` is the nesting of obj itself.
 */
static int collect(struct pctx *p, json_t *obj, struct field *fields, size_t n, int depth)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i;
        for (i = 0; i < n; i++) {
            if (strcmp(key, fields[i].name) == 0) {
                fields[i].v = v;
                break;
            }
        }
        if (i == n && depth + json_depth(v, REPORT__MAX_DEPTH - depth) > REPORT__MAX_DEPTH) {
            size_t old = path_key(p, key);
            fail(p, "nested deeper than the report schema (%d levels)", REPORT__MAX_DEPTH);
            path_pop(p, old);
            return -1;
        }
    }
    return 0;
}

/* Copy a JSON string of at most REPORT_MAX_STRING bytes (the path is the value's). */
static int get_string(struct pctx *p, json_t *v, char **out)
{
    if (!json_is_string(v))
        return fail(p, "must be a string");
    size_t n = json_string_length(v);
    if (n > REPORT_MAX_STRING)
        return fail(p, "longer than %d bytes", REPORT_MAX_STRING);
    char *s = xmalloc(n + 1);
    memcpy(s, json_string_value(v), n);
    s[n] = '\0';
    *out = s;
    return 0;
}

/* A required string member (absent -> error; empty allowed unless nonempty). */
static int req_string(struct pctx *p, const char *key, json_t *v, int nonempty, char **out)
{
    if (v == NULL)
        return fail_key(p, key, "required");
    size_t old = path_key(p, key);
    int r = get_string(p, v, out);
    if (r == 0 && nonempty && (*out)[0] == '\0')
        r = fail(p, "must not be empty");
    path_pop(p, old);
    return r;
}

/* An optional string member: absent or null gives NULL. */
static int opt_string(struct pctx *p, const char *key, json_t *v, char **out)
{
    if (v == NULL || json_is_null(v))
        return 0;
    size_t old = path_key(p, key);
    int r = get_string(p, v, out);
    path_pop(p, old);
    return r;
}

/* A session count: a JSON integer in 0..2^53 (jansson itself rejects what overflows int64). */
static int req_count(struct pctx *p, const char *key, json_t *v, int64_t *out)
{
    if (v == NULL)
        return fail_key(p, key, "required");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail_key(p, key, "must be a non-negative integer");
    if (json_integer_value(v) > COUNT_MAX)
        return fail_key(p, key, "must not exceed 2^53");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* RFC 3339 date-time (RFC 8460 §4.4); a missing zone is read as UTC (Microsoft omits it). */
static int req_datetime(struct pctx *p, const char *key, json_t *v, time_t *out)
{
    if (v == NULL)
        return fail_key(p, key, "required");
    if (!json_is_string(v))
        return fail_key(p, key, "must be a string");
    if (json_string_length(v) > 64 || parse_rfc3339(json_string_value(v), out) != 0)
        return fail_key(p, key, "not an RFC 3339 date-time");
    return 0;
}

/*
 * A list of strings (policy-string, mx-host): an array of strings, or one string (sent by
 * real reporters for mx-host, RFC 8460 errata 6241 shows the array form).
 */
static int get_string_list(struct pctx *p, const char *key, json_t *v, char ***out, size_t *n)
{
    if (v == NULL || json_is_null(v))
        return 0;
    size_t old = path_key(p, key);
    int r = 0;
    if (json_is_string(v)) {
        *out = xcalloc(1, sizeof **out);
        r = get_string(p, v, &(*out)[0]);
        if (r == 0)
            *n = 1;
    } else if (json_is_array(v)) {
        size_t cnt = json_array_size(v);
        if (cnt > REPORT_MAX_STRINGS) {
            r = fail(p, "more than %d entries", REPORT_MAX_STRINGS);
        } else if (cnt > 0) {
            *out = xcalloc(cnt, sizeof **out);
            for (size_t i = 0; i < cnt && r == 0; i++) {
                size_t o2 = path_idx(p, i);
                r = get_string(p, json_array_get(v, i), &(*out)[i]);
                if (r == 0)
                    (*n)++;
                path_pop(p, o2);
            }
        }
    } else {
        r = fail(p, "must be an array of strings");
    }
    path_pop(p, old);
    return r;
}

/*
 * Microsoft sends a tlsa policy-string as one string holding a JSON array of the TLSA
 * records. Split it into its entries, so that every policy-string is a list of lines;
 * anything else that starts with '[' stays as given.
 */
static void split_json_array_string(struct report_policy *pol)
{
    if (pol->n_policy_string != 1 || pol->policy_string[0][0] != '[')
        return;
    json_t *a = json_loads(pol->policy_string[0], JSON_REJECT_DUPLICATES, NULL);
    size_t cnt = json_array_size(a);
    if (a == NULL || !json_is_array(a) || cnt == 0 || cnt > REPORT_MAX_STRINGS) {
        json_decref(a);
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (!json_is_string(json_array_get(a, i))) {
            json_decref(a);
            return;
        }
    }
    char **list = xcalloc(cnt, sizeof *list);
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_array_get(a, i);
        list[i] = xstrndup(json_string_value(s), json_string_length(s));
    }
    free(pol->policy_string[0]);
    free(pol->policy_string);
    pol->policy_string = list;
    pol->n_policy_string = cnt;
    json_decref(a);
}

/* Remove the "mx: " prefix some reporters copy from the policy line. */
static void strip_mx_prefix(char *s)
{
    if (strncasecmp(s, "mx:", 3) != 0)
        return;
    const char *t = s + 3;
    while (*t == ' ' || *t == '\t')
        t++;
    memmove(s, t, strlen(t) + 1);
}

/* The member `key` of the current object, present: it must be an object, whose members are
 * sorted into `f` with the path left at key (restore with path_pop(p, *old)). */
static int enter_object(struct pctx *p, const char *key, json_t *v, struct field *f, size_t n,
                        int depth, size_t *old)
{
    if (v == NULL)
        return fail_key(p, key, "required");
    if (!json_is_object(v))
        return fail_key(p, key, "must be an object");
    *old = path_key(p, key);
    if (collect(p, v, f, n, depth) == 0)
        return 0;
    path_pop(p, *old);
    return -1;
}

/* What an array member holds: at most `max` objects with the members `members` (sorted at
 * nesting `depth`), each read by one() into an element of `size` bytes. */
struct array_of {
    int max;
    size_t size;
    const struct field *members;
    size_t n_members; /* at most 8 */
    int depth;
    int (*one)(struct pctx *p, const struct field *f, void *elem);
};
#define MEMBERS(a) a, sizeof(a) / sizeof((a)[0])

/* The array member `key` (present) as a calloc'd array of a->size-byte elements, returned
 * (NULL when empty) with its length in *n: entries up to the one that failed, so that
 * report_clear frees them. */
static void *parse_array(struct pctx *p, const char *key, json_t *v, const struct array_of *a,
                         size_t *n, int *r)
{
    *r = 0;
    if (!json_is_array(v)) {
        *r = fail_key(p, key, "must be an array");
        return NULL;
    }
    size_t cnt = json_array_size(v);
    if (cnt > (size_t)a->max) {
        *r = fail_key(p, key, "more than %d entries", a->max);
        return NULL;
    }
    if (cnt == 0)
        return NULL;
    unsigned char *arr = xcalloc(cnt, a->size);
    size_t old = path_key(p, key);
    for (size_t i = 0; i < cnt && *r == 0; i++) {
        size_t o2 = path_idx(p, i);
        json_t *obj = json_array_get(v, i);
        struct field f[8];
        memcpy(f, a->members, a->n_members * sizeof *f);
        if (!json_is_object(obj))
            *r = fail(p, "must be an object");
        else if ((*r = collect(p, obj, f, a->n_members, a->depth)) == 0)
            *r = a->one(p, f, arr + i * a->size);
        *n = i + 1;
        path_pop(p, o2);
    }
    path_pop(p, old);
    return arr;
}

/* policies[i].policy (RFC 8460 §4.4 "policy"), its members sorted into f[4]. */
static int parse_policy_desc(struct pctx *p, const struct field *f, struct report_policy *pol)
{
    if (req_string(p, "policy-type", f[0].v, 0, &pol->policy_type) != 0)
        return -1;
    if (strcmp(pol->policy_type, "sts") != 0 && strcmp(pol->policy_type, "tlsa") != 0 &&
        strcmp(pol->policy_type, "no-policy-found") != 0)
        return fail_key(p, "policy-type", "must be sts, tlsa or no-policy-found");
    if (get_string_list(p, "policy-string", f[1].v, &pol->policy_string, &pol->n_policy_string) !=
        0)
        return -1;
    split_json_array_string(pol);
    /* Postfix 3.10's TLSRPT (libtlsrpt) leaves policy-domain out of no-policy-found policies:
     * for that type only, absent or null leaves policy_domain NULL (report_attribute may fill
     * it from the channel). sts and tlsa policies must name theirs. */
    int optional = strcmp(pol->policy_type, "no-policy-found") == 0;
    if (optional && (f[2].v == NULL || json_is_null(f[2].v)))
        pol->policy_domain = NULL;
    else if (req_string(p, "policy-domain", f[2].v, 0, &pol->policy_domain) != 0)
        return -1;
    /* A domain name in A-labels (RFC 8461 §3.1), stored lowercased without a trailing dot. */
    char *d = pol->policy_domain;
    if (d != NULL && domain_normalise(d, d, strlen(d) + 1) != 0)
        return fail_key(p, "policy-domain", "not a domain name");
    if (get_string_list(p, "mx-host", f[3].v, &pol->mx_host, &pol->n_mx_host) != 0)
        return -1;
    for (size_t i = 0; i < pol->n_mx_host; i++)
        strip_mx_prefix(pol->mx_host[i]);
    return 0;
}

/* policies[i].failure-details[j] (RFC 8460 §4.4, result types in §4.3). */
static const struct field failure_members[] = {
    {"result-type", NULL},
    {"sending-mta-ip", NULL},
    {"receiving-mx-hostname", NULL},
    {"receiving-mx-helo", NULL},
    {"receiving-ip", NULL},
    {"failed-session-count", NULL},
    {"additional-information", NULL},
    {"failure-reason-code", NULL},
};

static int parse_failure(struct pctx *p, const struct field *f, void *elem)
{
    struct report_failure *fd = elem;
    /* Unknown result types are kept as sent (new ones may come); only an empty one says nothing. */
    if (req_string(p, "result-type", f[0].v, 1, &fd->result_type) != 0 ||
        opt_string(p, "sending-mta-ip", f[1].v, &fd->sending_mta_ip) != 0 ||
        opt_string(p, "receiving-mx-hostname", f[2].v, &fd->receiving_mx_hostname) != 0 ||
        opt_string(p, "receiving-mx-helo", f[3].v, &fd->receiving_mx_helo) != 0 ||
        opt_string(p, "receiving-ip", f[4].v, &fd->receiving_ip) != 0 ||
        req_count(p, "failed-session-count", f[5].v, &fd->failed_session_count) != 0 ||
        opt_string(p, "additional-information", f[6].v, &fd->additional_information) != 0 ||
        opt_string(p, "failure-reason-code", f[7].v, &fd->failure_reason_code) != 0)
        return -1;
    return 0;
}

static const struct array_of failures_of = {REPORT_MAX_FAILURE_DETAILS,
                                            sizeof(struct report_failure), MEMBERS(failure_members),
                                            5, parse_failure};

/* policies[i]: policy, summary, failure-details. */
static const struct field policy_members[] = {
    {"policy", NULL},
    {"summary", NULL},
    {"failure-details", NULL},
};

static int parse_policy(struct pctx *p, const struct field *f, void *elem)
{
    struct report_policy *pol = elem;
    struct field d[] = {
        {"policy-type", NULL},
        {"policy-string", NULL},
        {"policy-domain", NULL},
        {"mx-host", NULL},
    };
    size_t old;
    if (enter_object(p, "policy", f[0].v, d, 4, 4, &old) != 0)
        return -1;
    int r = parse_policy_desc(p, d, pol);
    path_pop(p, old);
    if (r != 0)
        return -1;

    struct field s[] = {
        {"total-successful-session-count", NULL},
        {"total-failure-session-count", NULL},
    };
    if (enter_object(p, "summary", f[1].v, s, 2, 4, &old) != 0)
        return -1;
    r = req_count(p, "total-successful-session-count", s[0].v, &pol->total_successful);
    if (r == 0)
        r = req_count(p, "total-failure-session-count", s[1].v, &pol->total_failure);
    path_pop(p, old);
    if (r != 0)
        return -1;

    /* failure-details may be absent (no failures) or null; a sum past the failure total
     * is kept as sent (Mail.ru does it). */
    if (f[2].v == NULL || json_is_null(f[2].v))
        return 0;
    pol->failures = parse_array(p, "failure-details", f[2].v, &failures_of, &pol->n_failures, &r);
    return r;
}

static const struct array_of policies_of = {REPORT_MAX_POLICIES, sizeof(struct report_policy),
                                            MEMBERS(policy_members), 3, parse_policy};

static int parse_root(struct pctx *p, json_t *root, struct report *out)
{
    if (!json_is_object(root))
        return fail(p, "must be a JSON object");
    struct field f[] = {
        {"organization-name", NULL}, {"date-range", NULL}, {"contact-info", NULL},
        {"report-id", NULL},         {"policies", NULL},
    };
    if (collect(p, root, f, 5, 1) != 0)
        return -1;
    /* organization-name and report-id identify a report for de-duplication (RFC 8460
     * §4.4: report-id is unique per reporter), so neither may be empty. */
    if (req_string(p, "organization-name", f[0].v, 1, &out->organization_name) != 0)
        return -1;

    struct field d[] = {
        {"start-datetime", NULL},
        {"end-datetime", NULL},
    };
    size_t old;
    if (enter_object(p, "date-range", f[1].v, d, 2, 2, &old) != 0)
        return -1;
    int r = req_datetime(p, "start-datetime", d[0].v, &out->start);
    if (r == 0)
        r = req_datetime(p, "end-datetime", d[1].v, &out->end);
    if (r == 0 && out->end < out->start)
        r = fail_key(p, "end-datetime", "ends before start-datetime");
    path_pop(p, old);
    if (r != 0)
        return -1;

    if (opt_string(p, "contact-info", f[2].v, &out->contact_info) != 0)
        return -1;
    if (req_string(p, "report-id", f[3].v, 1, &out->report_id) != 0)
        return -1;

    if (f[4].v == NULL)
        return fail_key(p, "policies", "required");
    out->policies = parse_array(p, "policies", f[4].v, &policies_of, &out->n_policies, &r);
    return r;
}

int report_parse(const char *json, size_t len, struct report *out, struct report_error *err)
{
    memset(out, 0, sizeof *out);
    /* A UTF-8 byte order mark says nothing; RFC 8259 §8.1 lets parsers ignore it. */
    if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0) {
        json += 3;
        len -= 3;
    }
    json_error_t jerr;
    /* Duplicate keys are rejected: two readers could take different values from them
     * (RFC 8259 §4), and no reporter sends them. jansson checks UTF-8 and rejects \u0000. */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        report__set_error(err, "$", "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                          jerr.text);
        return -1;
    }
    struct pctx p = {.err = err, .len = 0};
    p.path[0] = '\0';
    int r = parse_root(&p, root, out);
    json_decref(root);
    if (r != 0)
        report_clear(out);
    return r;
}
