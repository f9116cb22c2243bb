/* details.c - what one report costs the store: its content digest and its bounded detail rows. */
#include "reports/reports.h"
#include "reports/reports_int.h"

#include "common/common.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- digest */

/* The canonical form is fed to SHA-256 through a small buffer: one EVP call per field would
 * cost more than the hashing of a typical report. */
struct feed {
    EVP_MD_CTX *md;
    size_t len;
    unsigned char buf[2048];
};

static void put_bytes(struct feed *f, const void *p, size_t n)
{
    if (f->len + n > sizeof(f->buf)) {
        EVP_DigestUpdate(f->md, f->buf, f->len);
        f->len = 0;
    }
    if (n > sizeof(f->buf)) {
        EVP_DigestUpdate(f->md, p, n);
        return;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
}

static void put_u64(struct feed *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    put_bytes(f, b, sizeof(b));
}

/* A string as (present, length, bytes), so that NULL, "" and "a" + "b" vs "ab" differ. */
static void put_str(struct feed *f, const char *s)
{
    if (s == NULL) {
        put_u64(f, 0);
        return;
    }
    size_t n = strlen(s);
    put_u64(f, (uint64_t)n + 1);
    put_bytes(f, s, n);
}

static void put_strs(struct feed *f, char *const *v, size_t n)
{
    put_u64(f, n);
    for (size_t i = 0; i < n; i++)
        put_str(f, v[i]);
}

void report_digest(const struct report *r, unsigned char out[REPORT_DIGEST_LEN])
{
    struct feed fd;
    fd.md = EVP_MD_CTX_new();
    fd.len = 0;
    if (fd.md == NULL || EVP_DigestInit_ex(fd.md, EVP_sha256(), NULL) != 1)
        abort(); /* only fails when OpenSSL cannot allocate */
    struct feed *f = &fd;
    put_str(f, "stsd report digest 1");
    put_str(f, r->organization_name);
    put_str(f, r->report_id);
    put_str(f, r->contact_info);
    put_u64(f, (uint64_t)(int64_t)r->start);
    put_u64(f, (uint64_t)(int64_t)r->end);
    put_u64(f, r->n_policies);
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        put_str(f, p->policy_type);
        put_strs(f, p->policy_string, p->n_policy_string);
        put_str(f, p->policy_domain);
        put_strs(f, p->mx_host, p->n_mx_host);
        put_u64(f, (uint64_t)p->total_successful);
        put_u64(f, (uint64_t)p->total_failure);
        put_u64(f, p->n_failures);
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct report_failure *d = &p->failures[j];
            put_str(f, d->result_type);
            put_str(f, d->sending_mta_ip);
            put_str(f, d->receiving_mx_hostname);
            put_str(f, d->receiving_mx_helo);
            put_str(f, d->receiving_ip);
            put_u64(f, (uint64_t)d->failed_session_count);
            put_str(f, d->additional_information);
            put_str(f, d->failure_reason_code);
        }
    }
    unsigned int n = REPORT_DIGEST_LEN;
    if (EVP_DigestUpdate(fd.md, fd.buf, fd.len) != 1 || EVP_DigestFinal_ex(fd.md, out, &n) != 1)
        abort();
    EVP_MD_CTX_free(fd.md);
}

/* ---------------------------------------------------------------- merging */

/* Details of one policy sorted by result-type, then by position (qsort is not stable). */
struct slot {
    const char *type;
    size_t idx;
};

static int cmp_slot(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static struct slot *sorted_slots(const struct report_policy *p)
{
    struct slot *s = xcalloc(p->n_failures ? p->n_failures : 1, sizeof(*s));
    for (size_t j = 0; j < p->n_failures; j++) {
        s[j].type = p->failures[j].result_type ? p->failures[j].result_type : "";
        s[j].idx = j;
    }
    qsort(s, p->n_failures, sizeof(*s), cmp_slot);
    return s;
}

static size_t distinct_types(const struct slot *s, size_t n)
{
    size_t d = 0;
    for (size_t j = 0; j < n; j++)
        if (j == 0 || strcmp(s[j].type, s[j - 1].type) != 0)
            d++;
    return d;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    if (b < 0)
        b = 0;
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Keep the first `keep` details of p as they are; merge the rest into one row per
 * result-type. Returns how many details went into merged rows. */
static size_t merge_policy(struct report_policy *p, const struct slot *s, size_t keep,
                           uint64_t max_rows)
{
    if (keep >= p->n_failures)
        return 0;
    struct report_failure *out = xcalloc(p->n_failures, sizeof(*out));
    size_t n = 0, merged = 0;
    for (size_t j = 0; j < keep; j++)
        out[n++] = p->failures[j];
    for (size_t a = 0; a < p->n_failures;) {
        size_t b = a;
        while (b < p->n_failures && strcmp(s[b].type, s[a].type) == 0)
            b++;
        struct report_failure *row = NULL;
        size_t in_row = 0;
        for (size_t k = a; k < b; k++) {
            struct report_failure *f = &p->failures[s[k].idx];
            if (s[k].idx < keep)
                continue;
            if (row == NULL) {
                row = &out[n++];
                row->result_type = f->result_type;
                f->result_type = NULL;
            }
            row->failed_session_count = add_sat(row->failed_session_count, f->failed_session_count);
            in_row++;
            report_failure_clear(f);
        }
        if (row != NULL)
            row->additional_information =
                xasprintf("stsd: %zu failure-details merged into this row "
                          "([reports] max_detail_rows = %llu)",
                          in_row, (unsigned long long)max_rows);
        merged += in_row;
        a = b;
    }
    free(p->failures);
    p->failures = out;
    p->n_failures = n;
    return merged;
}

size_t report_merge_details(struct report *r, uint64_t max_rows)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n_policies; i++)
        total += r->policies[i].n_failures;
    if (total <= max_rows)
        return 0;
    /* Each (policy, result-type) pair needs one merged row for the totals to stay exact;
     * what the bound leaves beyond those rows is shared between the policies as kept
     * details, each policy its first ones in document order. */
    struct slot **slots = xcalloc(r->n_policies, sizeof(*slots));
    size_t pairs = 0, with_details = 0;
    for (size_t i = 0; i < r->n_policies; i++) {
        slots[i] = sorted_slots(&r->policies[i]);
        pairs += distinct_types(slots[i], r->policies[i].n_failures);
        with_details += r->policies[i].n_failures > 0;
    }
    size_t spare = pairs < max_rows ? (size_t)(max_rows - pairs) : 0;
    size_t quota = with_details ? spare / with_details : 0;
    size_t merged = 0;
    for (size_t i = 0; i < r->n_policies; i++) {
        merged += merge_policy(&r->policies[i], slots[i], quota, max_rows);
        free(slots[i]);
    }
    free(slots);
    return merged;
}

size_t report_prepare_store(struct report *r, uint64_t max_detail_rows,
                            unsigned char digest[REPORT_DIGEST_LEN])
{
    report_digest(r, digest);
    return max_detail_rows > 0 ? report_merge_details(r, max_detail_rows) : 0;
}
