/* clear.c - release a struct report: the one place that knows which of its fields are malloc'd. */
#include "reports/reports.h"
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

void report_failure_clear(struct report_failure *f)
{
    free(f->result_type);
    free(f->sending_mta_ip);
    free(f->receiving_mx_hostname);
    free(f->receiving_mx_helo);
    free(f->receiving_ip);
    free(f->additional_information);
    free(f->failure_reason_code);
}

void report_clear(struct report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_policies; i++) {
        struct report_policy *pol = &r->policies[i];
        free(pol->policy_type);
        strv_free(pol->policy_string, pol->n_policy_string);
        free(pol->policy_domain);
        strv_free(pol->mx_host, pol->n_mx_host);
        for (size_t j = 0; j < pol->n_failures; j++)
            report_failure_clear(&pol->failures[j]);
        free(pol->failures);
    }
    free(r->policies);
    free(r->organization_name);
    free(r->contact_info);
    free(r->report_id);
    memset(r, 0, sizeof *r);
}
