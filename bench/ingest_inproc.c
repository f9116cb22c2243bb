/*
 * ingest_inproc.c - the in-process cost of intake without HTTP or TLS: parse (and inflate)
 * the sample reports with report_parse_body and store them with db_report_store in batched
 * transactions, the way the server's writer thread does. Built and run by bench/ingest.sh.
 *
 *   ingest_inproc DB N SAMPLE...   N reports, cycling over the sample files, each stored
 *                                  under its own report-id; prints one JSON line
 */
#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"
#include "tests/unit/reports/reports_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 512 /* as server/intake.c */

int main(int argc, char **argv)
{
    struct rt_samples smp = rt_samples(argc, argv, 3, "ingest_inproc DB N SAMPLE...", 64 << 20);
    long n = atol(argv[2]);
    char err[512];
    struct db *db = db_open(argv[1], err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "%s\n", err);
        return 70;
    }
    double t_parse = 0, t_store = 0, t0 = rt_seconds(CLOCK_MONOTONIC);
    long stored = 0, failed = 0;
    for (long i = 0; i < n;) {
        struct report batch[BATCH];
        int k = 0;
        double a = rt_seconds(CLOCK_MONOTONIC);
        for (; k < BATCH && i < n; i++) {
            int s = (int)(i % smp.n);
            struct report_error e;
            if (report_parse_body(smp.data[s], smp.len[s], 20 << 20, &batch[k], &e) != 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[3 + s], e.path, e.message);
                return 65;
            }
            free(batch[k].report_id);
            batch[k].report_id = xasprintf("inproc-%ld", i);
            k++;
        }
        double b = rt_seconds(CLOCK_MONOTONIC);
        if (db_begin(db) != 0) {
            fprintf(stderr, "begin: %s\n", db_errmsg(db));
            return 70;
        }
        for (int j = 0; j < k; j++) {
            int s = (int)((i - k + j) % smp.n);
            unsigned char dg[REPORT_DIGEST_LEN];
            report_prepare_store(&batch[j], 1000, dg);
            struct db_store_result res;
            struct db_report_origin o = {.source = "file", .received = (int64_t)time(NULL)};
            if (db_report_store(db, &batch[j], dg, smp.data[s], smp.len[s], &o, &res) == 0 &&
                res.outcome == DB_STORE_STORED)
                stored++;
            else
                failed++;
            report_clear(&batch[j]);
        }
        if (db_commit(db) != 0) {
            fprintf(stderr, "commit: %s\n", db_errmsg(db));
            return 70;
        }
        double c = rt_seconds(CLOCK_MONOTONIC);
        t_parse += b - a;
        t_store += c - b;
    }
    double total = rt_seconds(CLOCK_MONOTONIC) - t0;
    printf("{\"reports\":%ld,\"stored\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_s\":%.0f,"
           "\"parse_per_s\":%.0f,\"store_per_s\":%.0f,\"samples\":%d}\n",
           n, stored, failed, total, (double)n / total, (double)n / t_parse, (double)n / t_store,
           smp.n);
    db_close(db);
    for (int i = 0; i < smp.n; i++)
        free(smp.data[i]);
    free(smp.data);
    free(smp.len);
    return failed ? 1 : 0;
}
