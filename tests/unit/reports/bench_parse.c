/*
 * bench_parse.c - not a test: time report_parse (and the gzip intake path) on the sample
 * reports, in CPU time of this thread (so a busy machine skews it less than wall time).
 * usage: bench_parse ITERATIONS FILE.json...  Prints µs per report.
 */
#include "common/common.h"
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct rt_samples s = rt_samples(argc, argv, 2, "bench_parse ITERATIONS FILE.json...", 1 << 24);
    long iters = atol(argv[1]);
    unsigned char **gz = xcalloc((size_t)s.n, sizeof *gz);
    size_t *gzlen = xcalloc((size_t)s.n, sizeof *gzlen);
    size_t bytes = 0;
    for (int i = 0; i < s.n; i++) {
        gz[i] = rt_gzip(s.data[i], s.len[i], &gzlen[i]);
        bytes += s.len[i];
    }
    struct report r;
    struct report_error err;
    double t0 = rt_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < s.n; i++) {
            json_t *j = json_loadb(s.data[i], s.len[i], JSON_REJECT_DUPLICATES, NULL);
            json_decref(j);
        }
    double t1 = rt_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < s.n; i++) {
            if (report_parse(s.data[i], s.len[i], &r, &err) != 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[i + 2], err.path, err.message);
                return 1;
            }
            report_clear(&r);
        }
    double t2 = rt_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < s.n; i++) {
            if (report_parse_body(gz[i], gzlen[i], 20u << 20, &r, &err) != 0)
                return 1;
            report_clear(&r);
        }
    double t3 = rt_seconds(CLOCK_THREAD_CPUTIME_ID);
    double n = (double)iters * s.n;
    printf("%d files, %.0f bytes average\n", s.n, (double)bytes / s.n);
    printf("jansson json_loadb alone:     %.2f us/report\n", (t1 - t0) / n * 1e6);
    printf("report_parse:                 %.2f us/report (%.0f reports/s on one core)\n",
           (t2 - t1) / n * 1e6, n / (t2 - t1));
    printf("report_parse_body (gzip):     %.2f us/report (%.0f reports/s on one core)\n",
           (t3 - t2) / n * 1e6, n / (t3 - t2));
    for (int i = 0; i < s.n; i++) {
        free(s.data[i]);
        free(gz[i]);
    }
    free(s.data);
    free(s.len);
    free(gz);
    free(gzlen);
    return 0;
}
