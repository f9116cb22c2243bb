/*
 * reports_test.h - helpers shared by the unit tests of reports/ (and the timing tools): the text
 * form of a parsed report used by the .expect files, and gzip compression with zlib.
 */
#ifndef STSD_REPORTS_TEST_H
#define STSD_REPORTS_TEST_H

#include <stddef.h>

#include "reports/reports.h"

/*
 * The facts of a report, one per line, in the format of the .expect files of
 * tests/data/tlsrpt/valid (written by tests/data/tlsrpt/gen_cases.py). malloc'd.
 */
char *rt_describe(const struct report *r);
/* The values of a jansson tree, counted as report_prescan counts them (every value, nested
 * ones included, member names not). */
struct json_t;
size_t rt_json_values(struct json_t *j);
/* gzip `len` bytes into one member (level 9); *outlen gets the size. malloc'd. */
unsigned char *rt_gzip(const void *in, size_t len, size_t *outlen);
/* For the timing tools (bench_parse, bench/ingest_inproc.c): the sample files
 * argv[first..argc) (each at most max bytes) read whole, with their sizes (malloc'd arrays).
 * Exits 64 with `usage` when there is none, 66 when one cannot be read. */
struct rt_samples {
    char **data;
    size_t *len;
    int n;
};
struct rt_samples rt_samples(int argc, char **argv, int first, const char *usage, size_t max);
/* Seconds on `clock` (a clockid_t: CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID). */
double rt_seconds(int clock);

#endif
