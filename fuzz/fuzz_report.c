/* fuzz_report.c - libFuzzer target: report_parse, report_parse_body and
 * report_parse_body_limited (budget, max_values, quick) on arbitrary bytes. */
#include "reports/reports.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What every parsed report must satisfy, whatever the input. */
static void check(const struct report *r)
{
    if (r->organization_name == NULL || r->organization_name[0] == '\0' || r->report_id == NULL ||
        r->report_id[0] == '\0' || r->end < r->start || r->n_policies > REPORT_MAX_POLICIES)
        abort();
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        /* policy_domain NULL only where the report may leave it out: no-policy-found */
        if (p->policy_type == NULL ||
            (p->policy_domain == NULL && strcmp(p->policy_type, "no-policy-found") != 0) ||
            p->total_successful < 0 || p->total_failure < 0 ||
            p->n_failures > REPORT_MAX_FAILURE_DETAILS || p->n_mx_host > REPORT_MAX_STRINGS ||
            p->n_policy_string > REPORT_MAX_STRINGS)
            abort();
        if (p->policy_domain != NULL && strlen(p->policy_domain) > 253)
            abort();
        for (size_t j = 0; j < p->n_failures; j++)
            if (p->failures[j].result_type == NULL || p->failures[j].failed_session_count < 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct report r;
    struct report_error err;
    char text[512];
    if (report_parse((const char *)data, size, &r, &err) == 0) {
        check(&r);
        /* The channel's domain fills every policy that named none, and only those. */
        report_attribute(&r, "Example.TEST.");
        for (size_t i = 0; i < r.n_policies; i++)
            if (r.policies[i].policy_domain == NULL ||
                (r.policies[i].domain_inferred &&
                 strcmp(r.policies[i].policy_domain, "example.test") != 0))
                abort();
        report_clear(&r);
    } else {
        report_error_text(&err, text, sizeof text);
        if (r.organization_name != NULL || r.policies != NULL)
            abort(); /* a failed parse leaves nothing behind */
    }
    /* The intake path: gzip inputs inflate under a small cap. */
    int st = report_parse_body(data, size, 1 << 16, &r, &err);
    if (st == 0) {
        check(&r);
        report_clear(&r);
    } else if (st != 400 && st != 413) {
        abort();
    }
    /* The bounded step with a small budget and few values, quick or not: whatever the
     * answer, what stays reserved is exactly what the report holds. */
    for (int quick = 0; quick < 2; quick++) {
        struct report_budget b;
        report_budget_init(&b, 1 << 18);
        struct report_body_limits lim = {
            .max_json = 1 << 16, .max_values = 200, .budget = &b, .quick = quick};
        size_t held = 0;
        st = report_parse_body_limited(data, size, &lim, &r, &held, &err);
        if (report_budget_used(&b) != (st == 0 ? held : 0))
            abort();
        if (st == 0) {
            check(&r);
            report_clear(&r);
        } else if (st != 400 && st != 413 && st != 503 && !(quick && st == REPORT_BODY_LARGE)) {
            abort();
        }
    }
    return 0;
}
