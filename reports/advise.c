/* advise.c - whether a hosted policy may move on (none -> testing -> enforce) from what its
 * reports and its latest self-check say, and what blocks it: the verdict of `stsd policy
 * advise` and of the admin API's enforce gate. Pure. */
#include "reports/reports.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void block(struct report_advice *a, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void block(struct report_advice *a, const char *id, const char *fmt, ...)
{
    if (a->n_blockers >= REPORT_ADVICE_MAX_BLOCKERS)
        return;
    va_list ap;
    va_start(ap, fmt);
    a->blockers[a->n_blockers].id = id;
    vsnprintf(a->blockers[a->n_blockers].message, sizeof(a->blockers[0].message), fmt, ap);
    va_end(ap);
    a->n_blockers++;
}

void report_advise(const struct report_advise_in *in, struct report_advice *a)
{
    memset(a, 0, sizeof(*a));
    a->total = in->successful + in->failed;
    a->failure_rate = a->total > 0 ? (double)in->failed / (double)a->total : 0.0;
    double frate = a->failure_rate;
    const char *mode = in->valid ? in->mode : "none";
    int none = strcmp(mode, "none") == 0, testing = strcmp(mode, "testing") == 0;
    int enforce = strcmp(mode, "enforce") == 0;
    if (!in->valid) {
        block(a, "policy-invalid", "the policy file is invalid: %s",
              in->invalid_reason ? in->invalid_reason : "unreadable");
    } else if (none) {
        a->target = "testing";
    } else if (testing) {
        /* RFC 8461 §5: testing first, long enough for the senders that report daily. */
        a->target = "enforce";
        if (in->days < REPORT_ADVISE_MIN_DAYS)
            block(a, "too-few-days", "reports on %lld day(s) in the window; at least %d are needed",
                  (long long)in->days, REPORT_ADVISE_MIN_DAYS);
        if (frate > REPORT_ADVISE_MAX_FAILURE_RATE)
            block(a, "failures", "%lld of %lld sessions failed (%.2f%%); at most %.2f%% may fail",
                  (long long)in->failed, (long long)a->total, frate * 100.0,
                  REPORT_ADVISE_MAX_FAILURE_RATE * 100.0);
    }
    if (in->valid && !enforce) {
        if (!in->have_check)
            block(a, "no-check",
                  "no self-check stored yet: set [checks] interval and run stsd "
                  "serve");
        else if (in->check_errors > 0)
            block(a, "check-errors", "the latest check has %d error(s); fix them first",
                  in->check_errors);
    }
    if (in->valid && enforce && frate > REPORT_ADVISE_MAX_FAILURE_RATE)
        block(a, "failures",
              "in enforce mode %lld of %lld sessions failed (%.2f%%): those messages were "
              "not delivered; fix the causes below or go back to testing",
              (long long)in->failed, (long long)a->total, frate * 100.0);
    /* In enforce mode: a short max_age is the one thing left to improve. */
    a->raise_max_age = in->valid && enforce && in->max_age < REPORT_ADVISE_GOOD_MAX_AGE &&
                       a->n_blockers == 0 && frate <= REPORT_ADVISE_MAX_FAILURE_RATE;
    if (a->raise_max_age)
        a->target = "enforce";
    a->ready = a->target != NULL && a->n_blockers == 0;
    a->max_age = in->max_age;
    if (a->ready && in->max_age < REPORT_ADVISE_GOOD_MAX_AGE && strcmp(a->target, "enforce") == 0)
        a->max_age = REPORT_ADVISE_GOOD_MAX_AGE;
}
