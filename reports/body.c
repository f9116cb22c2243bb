/* body.c - the bounded intake step for one report body: measure, inflate, pre-scan, parse,
 * each allocation reserved in a shared memory budget first. */
#include "reports/reports.h"
#include "reports/reports_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void report_budget_init(struct report_budget *b, size_t cap)
{
    atomic_init(&b->used, 0);
    b->cap = cap;
}

int report_budget_take(struct report_budget *b, size_t n)
{
    if (b == NULL)
        return 0;
    size_t cur = atomic_load(&b->used);
    do {
        if (n > b->cap || cur > b->cap - n)
            return -1;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return 0;
}

void report_budget_give(struct report_budget *b, size_t n)
{
    if (b != NULL && n > 0)
        atomic_fetch_sub(&b->used, n);
}

size_t report_budget_used(struct report_budget *b)
{
    return b != NULL ? atomic_load(&b->used) : 0;
}

/* a * b + c, saturating (a reservation that large simply does not fit). */
static size_t mul_add(size_t a, size_t b, size_t c)
{
    if (b != 0 && a > (SIZE_MAX - c) / b)
        return SIZE_MAX;
    return a * b + c;
}

static int fail(struct report *out, struct report_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct report *out, struct report_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    memset(out, 0, sizeof *out);
    va_start(ap, fmt);
    report__set_errorv(err, "body", fmt, ap);
    va_end(ap);
    return status;
}

/* Inflated size up to which a gzip body is inflated without measuring it first. */
#define SMALL_JSON REPORT_BODY_QUICK

#define TOO_MANY_VALUES "more than max_values (%zu) JSON values"
#define BUDGET_SPENT "the parse memory budget is spent (%zu bytes more needed); retry later"

int report_parse_body_limited(const void *body, size_t len, const struct report_body_limits *lim,
                              struct report *out, size_t *held, struct report_error *err)
{
    struct report_budget *b = lim->budget;
    const char *json = body;
    size_t jlen = len, buf_held = 0;
    char *buf = NULL;
    if (held != NULL)
        *held = 0;
    memset(out, 0, sizeof *out);

    if (report_is_gzip(body, len)) {
        /* Most reports inflate to a few KB: inflate those at once into a buffer of at most
         * SMALL_JSON bytes. Anything larger, and a gzip inside the gzip, is measured first,
         * except that a value bomb is refused on its first bytes: the large path looks at
         * 4 bytes per allowed value (each value takes 2 at least, "0,"), enough to count
         * past max_values in any text that packs its values as densely as a bomb does. */
        size_t n = lim->quick || lim->max_values > SIZE_MAX / 8 ? 0 : 4 * lim->max_values;
        n = n > SMALL_JSON ? n : SMALL_JSON;
        n = lim->max_json < n ? lim->max_json : n;
        if (report_budget_take(b, n + 1) != 0)
            return fail(out, err, 503, BUDGET_SPENT, n + 1);
        enum report_gunzip_result gr = report__gunzip_prefix(body, len, n, &buf, &jlen);
        if (gr == REPORT_GUNZIP_OK && !report_is_gzip(buf, jlen)) {
            report_budget_give(b, n - jlen); /* keep what the text takes, NUL included */
            buf_held = jlen + 1;
            json = buf;
            goto scan;
        }
        if (gr == REPORT_GUNZIP_TOO_BIG && !report_is_gzip(buf, jlen) &&
            report_prescan(buf, jlen, lim->max_values, NULL) == REPORT_PRESCAN_TOO_MANY) {
            free(buf);
            report_budget_give(b, n + 1);
            return fail(out, err, 413, TOO_MANY_VALUES, lim->max_values);
        }
        free(buf);
        buf = NULL;
        report_budget_give(b, n + 1);
        if (gr == REPORT_GUNZIP_CORRUPT)
            return fail(out, err, 400, "%s", report_gunzip_strerror(gr));
        if (lim->quick && (gr == REPORT_GUNZIP_OK || n < lim->max_json))
            return REPORT_BODY_LARGE;
        gr = report_gunzip_measure(body, len, lim->max_json, &n);
        if (gr == REPORT_GUNZIP_OK && report_budget_take(b, n + 1) != 0)
            return fail(out, err, 503, BUDGET_SPENT, n + 1);
        if (gr == REPORT_GUNZIP_OK) {
            buf_held = n + 1;
            gr = report__gunzip_exact(body, len, n, &buf, &jlen);
        }
        if (gr != REPORT_GUNZIP_OK) {
            report_budget_give(b, buf_held);
            memset(out, 0, sizeof *out);
            report__set_error(err, "body", "%s", report_gunzip_strerror(gr));
            return gr == REPORT_GUNZIP_TOO_BIG ? 413 : 400;
        }
        json = buf;
    } else if (len > lim->max_json) {
        return fail(out, err, 413, "larger than the size limit (%zu bytes)", lim->max_json);
    } else if (lim->quick && len > REPORT_BODY_QUICK) {
        return REPORT_BODY_LARGE;
    }

scan:;
    /* Count before any tree is built: jansson takes up to ~235 bytes per value, so 20 MB of
     * "{}," would take 1.6 GB. */
    struct report_prescan ps;
    enum report_prescan_result pr = report_prescan(json, jlen, lim->max_values, &ps);
    if (pr == REPORT_PRESCAN_TOO_MANY) {
        free(buf);
        report_budget_give(b, buf_held);
        return fail(out, err, 413, TOO_MANY_VALUES, lim->max_values);
    }
    /* Not JSON: jansson reads a little past where the scan stopped, for its message (where
     * and what), and so builds no more values than the scan counted (plus a few). */
    size_t plen = jlen;
    if (pr == REPORT_PRESCAN_INVALID && ps.offset + 16 < jlen)
        plen = ps.offset + 16;
    size_t tree = mul_add(ps.values, REPORT_JSON_BYTES_PER_VALUE, plen);
    size_t keep = mul_add(ps.values, REPORT_BYTES_PER_VALUE, plen);
    if (tree == SIZE_MAX || keep == SIZE_MAX || report_budget_take(b, tree + keep) != 0) {
        free(buf);
        report_budget_give(b, buf_held);
        return fail(out, err, 503, BUDGET_SPENT, tree + keep);
    }
    int r = report_parse(json, plen, out, err);
    if (r == 0 && pr == REPORT_PRESCAN_INVALID) { /* the two disagree: trust the refusal */
        report_clear(out);
        report__set_error(err, "$", "invalid JSON near byte %zu", ps.offset);
        r = -1;
    }
    free(buf);
    report_budget_give(b, buf_held + tree + (r == 0 ? 0 : keep));
    if (r != 0)
        return 400;
    if (held != NULL)
        *held = keep;
    else
        report_budget_give(b, keep);
    return 0;
}

int report_parse_body(const void *body, size_t len, size_t max_json, struct report *out,
                      struct report_error *err)
{
    struct report_body_limits lim = {
        .max_json = max_json, .max_values = REPORT_DEFAULT_MAX_VALUES, .budget = NULL};
    return report_parse_body_limited(body, len, &lim, out, NULL, err);
}
