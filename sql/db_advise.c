/* db_advise.c - the stored facts the enforce advice is made from: a domain's reports by day
 * in a window and its latest self-check with the findings (the verdict is reports/advise.c). */
#include "sql/db.h"
#include "reports/reports.h"

#include <string.h>

int db_advise_facts(struct db *db, const char *domain, int64_t since, int64_t until,
                    struct report_summary *s, struct db_advise_facts *out)
{
    memset(out, 0, sizeof(*out));
    memset(s, 0, sizeof(*s));
    out->s = s;
    s->since = since;
    s->until = until;
    s->domain = domain;
    s->by = REPORT_BY_DAY;
    if (db_report_summary(db, s) != 0 || db_check_latest(db, domain, &out->chk, &out->nchk) != 0 ||
        (out->nchk > 0 && db_check_findings(db, out->chk[0].id, &out->f, &out->nf) != 0))
        return -1;
    return 0;
}

void db_advise_facts_clear(struct db_advise_facts *a)
{
    db_check_findings_free(a->f, a->nf);
    db_checks_free(a->chk, a->nchk);
    if (a->s != NULL)
        db_report_summary_clear(a->s);
    memset(a, 0, sizeof(*a));
}
