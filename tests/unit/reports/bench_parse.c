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

static double now(void)
{
    return rt_seconds(CLOCK_THREAD_CPUTIME_ID);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ITERATIONS FILE.json...\n", argv[0]);
        return 64;
    }
    long iters = atol(argv[1]);
    int nf = argc - 2;
    size_t *len;
    char **buf = rt_read_files(argv + 2, nf, 1 << 24, &len);
    if (buf == NULL)
        return 66;
    unsigned char **gz = xcalloc((size_t)nf, sizeof *gz);
    size_t *gzlen = xcalloc((size_t)nf, sizeof *gzlen);
    size_t bytes = 0;
    for (int i = 0; i < nf; i++) {
        gz[i] = rt_gzip(buf[i], len[i], &gzlen[i]);
        bytes += len[i];
    }
    struct report r;
    struct report_error err;
    double t0 = now();
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < nf; i++) {
            json_t *j = json_loadb(buf[i], len[i], JSON_REJECT_DUPLICATES, NULL);
            json_decref(j);
        }
    double t1 = now();
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < nf; i++) {
            if (report_parse(buf[i], len[i], &r, &err) != 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[i + 2], err.path, err.message);
                return 1;
            }
            report_clear(&r);
        }
    double t2 = now();
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < nf; i++) {
            if (report_parse_body(gz[i], gzlen[i], 20u << 20, &r, &err) != 0)
                return 1;
            report_clear(&r);
        }
    double t3 = now();
    double n = (double)iters * nf;
    printf("%d files, %.0f bytes average\n", nf, (double)bytes / nf);
    printf("jansson json_loadb alone:     %.2f us/report\n", (t1 - t0) / n * 1e6);
    printf("report_parse:                 %.2f us/report (%.0f reports/s on one core)\n",
           (t2 - t1) / n * 1e6, n / (t2 - t1));
    printf("report_parse_body (gzip):     %.2f us/report (%.0f reports/s on one core)\n",
           (t3 - t2) / n * 1e6, n / (t3 - t2));
    for (int i = 0; i < nf; i++) {
        free(buf[i]);
        free(gz[i]);
    }
    free(buf);
    free(len);
    free(gz);
    free(gzlen);
    return 0;
}
