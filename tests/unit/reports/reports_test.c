/* reports_test.c - helpers shared by the unit tests of reports/ (see reports_test.h). */
#include "tests/unit/reports/reports_test.h"

#include "common/common.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void opt(struct sbuf *b, const char *key, const char *v)
{
    if (v != NULL)
        sb_printf(b, " %s=%s", key, v);
}

char *rt_describe(const struct report *r)
{
    struct sbuf b = {0};
    char start[21], end[21];
    format_rfc3339(r->start, start);
    format_rfc3339(r->end, end);
    sb_printf(&b, "organization-name: %s\nreport-id: %s\ncontact-info: %s\n", r->organization_name,
              r->report_id, r->contact_info != NULL ? r->contact_info : "-");
    sb_printf(&b, "start: %s\nend: %s\npolicies: %zu\n", start, end, r->n_policies);
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        int64_t sum = 0;
        for (size_t j = 0; j < p->n_failures; j++)
            sum += p->failures[j].failed_session_count;
        sb_printf(&b,
                  "policy[%zu]: type=%s domain=%s successful=%" PRId64 " failed=%" PRId64
                  " failure-details=%zu failed-sum=%" PRId64 "\n",
                  i, p->policy_type, p->policy_domain != NULL ? p->policy_domain : "-",
                  p->total_successful, p->total_failure, p->n_failures, sum);
        for (size_t j = 0; j < p->n_policy_string; j++)
            sb_printf(&b, "policy[%zu].policy-string[%zu]: %s\n", i, j, p->policy_string[j]);
        for (size_t j = 0; j < p->n_mx_host; j++)
            sb_printf(&b, "policy[%zu].mx-host[%zu]: %s\n", i, j, p->mx_host[j]);
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct report_failure *f = &p->failures[j];
            sb_printf(&b, "policy[%zu].failure-details[%zu]: result-type=%s count=%" PRId64, i, j,
                      f->result_type, f->failed_session_count);
            opt(&b, "sending-mta-ip", f->sending_mta_ip);
            opt(&b, "receiving-mx-hostname", f->receiving_mx_hostname);
            opt(&b, "receiving-mx-helo", f->receiving_mx_helo);
            opt(&b, "receiving-ip", f->receiving_ip);
            opt(&b, "additional-information", f->additional_information);
            opt(&b, "failure-reason-code", f->failure_reason_code);
            sb_printf(&b, "\n");
        }
    }
    return b.s;
}

unsigned char *rt_gzip(const void *in, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *out = xmalloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

size_t rt_json_values(struct json_t *j)
{
    size_t n = 1;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            n += rt_json_values(json_array_get(j, i));
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) n += rt_json_values(v);
    }
    return n;
}

struct rt_samples rt_samples(int argc, char **argv, int first, const char *usage, size_t max)
{
    if (argc <= first) {
        fprintf(stderr, "usage: %s\n", usage);
        exit(64);
    }
    struct rt_samples s = {xcalloc((size_t)(argc - first), sizeof(char *)),
                           xcalloc((size_t)(argc - first), sizeof(size_t)), argc - first};
    for (int i = 0; i < s.n; i++) {
        s.data[i] = file_read_all(argv[first + i], max, &s.len[i]);
        if (s.data[i] == NULL) {
            perror(argv[first + i]);
            exit(66);
        }
    }
    return s;
}

double rt_seconds(int clock)
{
    struct timespec ts;
    clock_gettime((clockid_t)clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
