/* summary.c - sorting, rates and the JSON/CSV/text forms of report summaries, lists and reports. */
#include "reports/reports.h"
#include "common/common.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const group_names[] = {
    [REPORT_BY_NONE] = "none", [REPORT_BY_DAY] = "day",           [REPORT_BY_DOMAIN] = "domain",
    [REPORT_BY_MX] = "mx",     [REPORT_BY_REPORTER] = "reporter", [REPORT_BY_RESULT] = "result",
};

/* The column name a group's key gets in CSV and text output. */
static const char *const group_columns[] = {
    [REPORT_BY_NONE] = "key",
    [REPORT_BY_DAY] = "day",
    [REPORT_BY_DOMAIN] = "domain",
    [REPORT_BY_MX] = "mx",
    [REPORT_BY_REPORTER] = "organization",
    [REPORT_BY_RESULT] = "result_type",
};

int report_group_parse(const char *s, enum report_group *out)
{
    for (size_t i = 0; i < sizeof(group_names) / sizeof(group_names[0]); i++) {
        if (s != NULL && strcmp(s, group_names[i]) == 0) {
            *out = (enum report_group)i;
            return 0;
        }
    }
    return -1;
}

const char *report_group_name(enum report_group by)
{
    if ((size_t)by >= sizeof(group_names) / sizeof(group_names[0]))
        return "none";
    return group_names[by];
}

double report_success_rate(int64_t successful, int64_t failed)
{
    if (successful < 0 || failed < 0 || successful + failed <= 0)
        return -1;
    return (double)successful / ((double)successful + (double)failed);
}

void report_format_time(int64_t t, char buf[21])
{
    if (t % 86400 == 0)
        format_date((time_t)t, buf);
    else
        format_rfc3339((time_t)t, buf);
}

static int cmp_key(const struct report_summary_row *a, const struct report_summary_row *b)
{
    return strcmp(a->key ? a->key : "", b->key ? b->key : "");
}

static int cmp_failed(const void *pa, const void *pb)
{
    const struct report_summary_row *a = pa, *b = pb;
    if (a->failed != b->failed)
        return a->failed > b->failed ? -1 : 1;
    return cmp_key(a, b);
}

static int cmp_reports(const void *pa, const void *pb)
{
    const struct report_summary_row *a = pa, *b = pb;
    if (a->reports != b->reports)
        return a->reports > b->reports ? -1 : 1;
    return cmp_key(a, b);
}

static int cmp_keyonly(const void *pa, const void *pb)
{
    return cmp_key(pa, pb);
}

static void sort_rows(struct report_summary_rows *rows, int (*cmp)(const void *, const void *))
{
    if (rows->n > 1)
        qsort(rows->v, rows->n, sizeof(*rows->v), cmp);
}

void report_summary_sort(struct report_summary *s)
{
    sort_rows(&s->by_result_type, cmp_failed);
    sort_rows(&s->by_mx, cmp_failed);
    sort_rows(&s->by_reporter, cmp_reports);
    switch (s->by) {
    case REPORT_BY_DAY:
        sort_rows(&s->groups, cmp_keyonly);
        break;
    case REPORT_BY_REPORTER:
        sort_rows(&s->groups, cmp_reports);
        break;
    default:
        sort_rows(&s->groups, cmp_failed);
        break;
    }
}

/* A JSON string, or null for NULL (and for invalid UTF-8, which the parser never lets in). */
static json_t *jstr(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *jrate(int64_t successful, int64_t failed)
{
    double r = report_success_rate(successful, failed);
    return r < 0 ? json_null() : json_real(r);
}

static json_t *jtime(int64_t t)
{
    char buf[21];
    report_format_time(t, buf);
    return json_string(buf);
}

static json_t *row_json(const struct report_summary_row *r, const char *keyname, int sessions)
{
    json_t *o = json_object();
    json_object_set_new(o, keyname, jstr(r->key));
    json_object_set_new(o, "reports", json_integer(r->reports));
    if (sessions && r->successful >= 0)
        json_object_set_new(o, "successful_sessions", json_integer(r->successful));
    json_object_set_new(o, "failed_sessions", json_integer(r->failed));
    if (sessions && r->successful >= 0)
        json_object_set_new(o, "success_rate", jrate(r->successful, r->failed));
    return o;
}

static json_t *rows_json(const struct report_summary_rows *rows, const char *keyname, int sessions)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rows->n; i++)
        json_array_append_new(a, row_json(&rows->v[i], keyname, sessions));
    return a;
}

json_t *report_summary_json(const struct report_summary *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "since", jtime(s->since));
    json_object_set_new(o, "until", jtime(s->until));
    json_object_set_new(o, "domain", jstr(s->domain));
    json_t *t = json_object();
    json_object_set_new(t, "reports", json_integer(s->reports));
    json_object_set_new(t, "successful_sessions", json_integer(s->successful));
    json_object_set_new(t, "failed_sessions", json_integer(s->failed));
    json_object_set_new(t, "success_rate", jrate(s->successful, s->failed));
    json_object_set_new(t, "conflicts", json_integer(s->conflicts));
    json_object_set_new(o, "totals", t);
    json_object_set_new(o, "by_result_type", rows_json(&s->by_result_type, "result_type", 0));
    json_object_set_new(o, "by_mx", rows_json(&s->by_mx, "mx", 0));
    json_object_set_new(o, "by_reporter", rows_json(&s->by_reporter, "organization", 1));
    if (s->by != REPORT_BY_NONE) {
        json_object_set_new(o, "by", json_string(report_group_name(s->by)));
        json_object_set_new(o, "groups", rows_json(&s->groups, "key", 1));
    }
    return o;
}

/* One CSV field (RFC 4180): control characters escaped as in text output (so no line break
 * is left inside), a leading ' when a spreadsheet would take it for a formula, quoted when
 * it holds a comma or quote. */
static void csv_field(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    char *e = text_escape_dup(s);
    const char *guard = text_csv_needs_guard(e) ? "'" : "";
    if (strpbrk(e, ",\"") == NULL) {
        fprintf(out, "%s%s", guard, e);
        free(e);
        return;
    }
    fputc('"', out);
    fputs(guard, out);
    for (const char *p = e; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
    free(e);
}

static void csv_int(FILE *out, int64_t v)
{
    if (v >= 0)
        fprintf(out, "%lld", (long long)v);
}

static void csv_rate(FILE *out, int64_t successful, int64_t failed)
{
    double r = report_success_rate(successful, failed);
    if (r >= 0)
        fprintf(out, "%.5f", r);
}

static void csv_row(FILE *out, const char *section, const char *key, int64_t reports,
                    int64_t successful, int64_t failed)
{
    if (section) {
        csv_field(out, section);
        fputc(',', out);
    }
    csv_field(out, key);
    fputc(',', out);
    csv_int(out, reports);
    fputc(',', out);
    csv_int(out, successful);
    fputc(',', out);
    csv_int(out, failed);
    fputc(',', out);
    if (successful >= 0)
        csv_rate(out, successful, failed);
    fputs("\r\n", out);
}

void report_summary_csv(const struct report_summary *s, FILE *out)
{
    if (s->by != REPORT_BY_NONE) {
        fprintf(out, "%s,reports,successful_sessions,failed_sessions,success_rate\r\n",
                group_columns[s->by]);
        for (size_t i = 0; i < s->groups.n; i++) {
            const struct report_summary_row *r = &s->groups.v[i];
            csv_row(out, NULL, r->key, r->reports, r->successful, r->failed);
        }
        return;
    }
    fputs("section,key,reports,successful_sessions,failed_sessions,success_rate\r\n", out);
    csv_row(out, "total", "", s->reports, s->successful, s->failed);
    if (s->conflicts > 0) /* copies left out of the counts: reports only */
        csv_row(out, "conflicts", "", s->conflicts, -1, -1);
    const struct {
        const char *name;
        const struct report_summary_rows *rows;
    } sections[] = {
        {"result_type", &s->by_result_type}, {"mx", &s->by_mx}, {"reporter", &s->by_reporter}};
    for (size_t k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
        for (size_t i = 0; i < sections[k].rows->n; i++) {
            const struct report_summary_row *r = &sections[k].rows->v[i];
            csv_row(out, sections[k].name, r->key, r->reports, r->successful, r->failed);
        }
    }
}

static void text_rate(FILE *out, int64_t successful, int64_t failed)
{
    double r = report_success_rate(successful, failed);
    if (r < 0)
        fprintf(out, "%9s", "-");
    else
        fprintf(out, "%8.2f%%", r * 100);
}

static void text_rows(FILE *out, const char *title, const char *keyname,
                      const struct report_summary_rows *rows, int sessions)
{
    fprintf(out, "\n%s\n", title);
    if (rows->n == 0) {
        fputs("  (none)\n", out);
        return;
    }
    if (sessions)
        fprintf(out, "  %-40s %8s %12s %10s %9s\n", keyname, "REPORTS", "SUCCESSFUL", "FAILED",
                "RATE");
    else
        fprintf(out, "  %-40s %8s %10s\n", keyname, "REPORTS", "FAILED");
    struct text_safe ts = {0};
    for (size_t i = 0; i < rows->n; i++) {
        const struct report_summary_row *r = &rows->v[i];
        const char *key = r->key ? text_safe(&ts, r->key) : "";
        if (sessions && r->successful >= 0) {
            fprintf(out, "  %-40s %8lld %12lld %10lld ", key, (long long)r->reports,
                    (long long)r->successful, (long long)r->failed);
            text_rate(out, r->successful, r->failed);
            fputc('\n', out);
        } else {
            fprintf(out, "  %-40s %8lld %10lld\n", key, (long long)r->reports,
                    (long long)r->failed);
        }
    }
    text_safe_free(&ts);
}

void report_summary_text(const struct report_summary *s, FILE *out)
{
    char a[21], b[21];
    report_format_time(s->since, a);
    report_format_time(s->until, b);
    char *dom = text_escape_dup(s->domain);
    fprintf(out, "TLS-RPT reports starting in [%s, %s), %s%s\n", a, b,
            s->domain ? "policy-domain " : "all policy-domains", dom);
    free(dom);
    fprintf(out, "  reports              %lld\n", (long long)s->reports);
    fprintf(out, "  successful sessions  %lld\n", (long long)s->successful);
    fprintf(out, "  failed sessions      %lld\n", (long long)s->failed);
    fputs("  success rate        ", out);
    text_rate(out, s->successful, s->failed);
    fputc('\n', out);
    if (s->conflicts > 0)
        fprintf(out,
                "  conflicts            %lld (copies with other content under a stored "
                "report-id; not counted)\n",
                (long long)s->conflicts);
    if (s->by != REPORT_BY_NONE) {
        char title[64];
        snprintf(title, sizeof(title), "By %s", report_group_name(s->by));
        int sessions = s->by != REPORT_BY_MX && s->by != REPORT_BY_RESULT;
        text_rows(out, title, group_columns[s->by], &s->groups, sessions);
        return;
    }
    text_rows(out, "Failures by result type", "RESULT TYPE", &s->by_result_type, 0);
    text_rows(out, "Failures by receiving MX", "MX", &s->by_mx, 0);
    text_rows(out, "By reporting organisation", "ORGANIZATION", &s->by_reporter, 1);
}

static json_t *listing_json(const struct report_listing *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "organization_name", jstr(m->organization_name));
    json_object_set_new(o, "report_id", jstr(m->report_id));
    json_object_set_new(o, "contact_info", jstr(m->contact_info));
    char buf[21];
    format_rfc3339((time_t)m->start, buf);
    json_object_set_new(o, "start", json_string(buf));
    format_rfc3339((time_t)m->end, buf);
    json_object_set_new(o, "end", json_string(buf));
    format_rfc3339((time_t)m->received, buf);
    json_object_set_new(o, "received", json_string(buf));
    json_object_set_new(o, "source", jstr(m->source));
    json_t *d = json_array();
    for (size_t i = 0; i < m->n_domains; i++)
        json_array_append_new(d, jstr(m->domains[i]));
    json_object_set_new(o, "policy_domains", d);
    json_object_set_new(o, "successful_sessions", json_integer(m->successful));
    json_object_set_new(o, "failed_sessions", json_integer(m->failed));
    json_object_set_new(o, "gzip", json_boolean(m->gzip));
    json_object_set_new(o, "raw_size", json_integer(m->rawsize));
    json_object_set_new(o, "conflict_of",
                        m->conflict_of > 0 ? json_integer(m->conflict_of) : json_null());
    json_object_set_new(o, "conflicts", json_integer(m->conflicts));
    json_object_set_new(o, "counted", json_boolean(m->counted));
    /* The DKIM result of the message it came in: null when it did not come by e-mail. */
    json_object_set_new(o, "dkim", jstr(m->dkim));
    json_object_set_new(o, "dkim_domain", jstr(m->dkim_domain));
    json_object_set_new(o, "dkim_detail", jstr(m->dkim_detail));
    return o;
}

json_t *report_list_json(const struct report_listing *v, size_t n, int64_t since, int64_t until)
{
    json_t *o = json_object();
    json_object_set_new(o, "since", jtime(since));
    json_object_set_new(o, "until", jtime(until));
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, listing_json(&v[i]));
    json_object_set_new(o, "reports", a);
    return o;
}

/* The policy-domains of a listing joined with sep (an entry may hold spaces: "example.com (from
 * TLS-Report-Domain)"), malloc'd. */
static char *join_domains(const struct report_listing *m, const char *sep)
{
    size_t len = 1, sl = strlen(sep);
    for (size_t i = 0; i < m->n_domains; i++)
        len += strlen(m->domains[i]) + sl;
    char *s = xmalloc(len), *p = s;
    *p = '\0';
    for (size_t i = 0; i < m->n_domains; i++) {
        if (i) {
            memcpy(p, sep, sl);
            p += sl;
        }
        size_t l = strlen(m->domains[i]);
        memcpy(p, m->domains[i], l + 1);
        p += l;
    }
    return s;
}

void report_list_csv(const struct report_listing *v, size_t n, FILE *out)
{
    fputs("id,organization_name,report_id,start,end,received,source,policy_domains,"
          "successful_sessions,failed_sessions,conflict_of,conflicts,dkim,dkim_domain\r\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const struct report_listing *m = &v[i];
        char start[21], end[21], recv[21];
        format_rfc3339((time_t)m->start, start);
        format_rfc3339((time_t)m->end, end);
        format_rfc3339((time_t)m->received, recv);
        char *domains = join_domains(m, ";");
        fprintf(out, "%lld,", (long long)m->id);
        csv_field(out, m->organization_name);
        fputc(',', out);
        csv_field(out, m->report_id);
        fprintf(out, ",%s,%s,%s,", start, end, recv);
        csv_field(out, m->source);
        fputc(',', out);
        csv_field(out, domains);
        fprintf(out, ",%lld,%lld,", (long long)m->successful, (long long)m->failed);
        csv_int(out, m->conflict_of > 0 ? m->conflict_of : -1);
        fprintf(out, ",%lld,", (long long)m->conflicts);
        csv_field(out, m->dkim);
        fputc(',', out);
        csv_field(out, m->dkim_domain);
        fputs("\r\n", out);
        free(domains);
    }
}

void report_list_text(const struct report_listing *v, size_t n, FILE *out)
{
    fprintf(out, "%-6s %-20s %-24s %-24s %10s %8s  %-9s %s\n", "ID", "START", "ORGANIZATION",
            "POLICY-DOMAINS", "SUCCESSFUL", "FAILED", "DKIM", "REPORT-ID");
    for (size_t i = 0; i < n; i++) {
        const struct report_listing *m = &v[i];
        char start[21];
        format_rfc3339((time_t)m->start, start);
        char *domains = join_domains(m, ", ");
        char mark[64] = "";
        if (m->conflict_of > 0)
            snprintf(mark, sizeof(mark), "  CONFLICT of %lld", (long long)m->conflict_of);
        else if (m->conflicts > 0)
            snprintf(mark, sizeof(mark), "  CONFLICT: %lld other cop%s", (long long)m->conflicts,
                     m->conflicts == 1 ? "y" : "ies");
        struct text_safe ts = {0};
        fprintf(out, "%-6lld %-20s %-24s %-24s %10lld %8lld  %-9s %s%s\n", (long long)m->id, start,
                text_safe(&ts, m->organization_name ? m->organization_name : ""),
                text_safe(&ts, domains), (long long)m->successful, (long long)m->failed,
                m->dkim ? text_safe(&ts, m->dkim) : "-",
                text_safe(&ts, m->report_id ? m->report_id : ""), mark);
        text_safe_free(&ts);
        free(domains);
    }
    fprintf(out, "%zu report%s\n", n, n == 1 ? "" : "s");
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, jstr(v[i]));
    return a;
}

static void set_opt(json_t *o, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(o, key, jstr(value));
}

/* Where an inferred policy-domain came from: the channel of the report's source. */
static const char *domain_from(const struct report_listing *meta)
{
    return meta->source != NULL && strcmp(meta->source, "https") == 0 ? "the mta-sts host"
                                                                      : "TLS-Report-Domain";
}

json_t *report_detail_json(const struct report_listing *meta, const struct report *r)
{
    json_t *o = listing_json(meta);
    json_t *pols = json_array();
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        json_t *po = json_object();
        json_object_set_new(po, "policy_type", jstr(p->policy_type));
        json_object_set_new(po, "policy_domain", jstr(p->policy_domain)); /* null: none */
        if (p->domain_inferred) { /* not in the report: the channel named it */
            json_object_set_new(po, "domain_inferred", json_true());
            json_object_set_new(po, "domain_from", json_string(domain_from(meta)));
        }
        json_object_set_new(po, "policy_string",
                            strings_json(p->policy_string, p->n_policy_string));
        json_object_set_new(po, "mx_host", strings_json(p->mx_host, p->n_mx_host));
        json_object_set_new(po, "successful_sessions", json_integer(p->total_successful));
        json_object_set_new(po, "failed_sessions", json_integer(p->total_failure));
        json_t *fa = json_array();
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct report_failure *f = &p->failures[j];
            json_t *fo = json_object();
            json_object_set_new(fo, "result_type", jstr(f->result_type));
            set_opt(fo, "sending_mta_ip", f->sending_mta_ip);
            set_opt(fo, "receiving_mx_hostname", f->receiving_mx_hostname);
            set_opt(fo, "receiving_mx_helo", f->receiving_mx_helo);
            set_opt(fo, "receiving_ip", f->receiving_ip);
            json_object_set_new(fo, "failed_session_count", json_integer(f->failed_session_count));
            set_opt(fo, "additional_information", f->additional_information);
            set_opt(fo, "failure_reason_code", f->failure_reason_code);
            json_array_append_new(fa, fo);
        }
        json_object_set_new(po, "failure_details", fa);
        json_array_append_new(pols, po);
    }
    json_object_set_new(o, "policies", pols);
    return o;
}

static void text_opt(FILE *out, const char *label, const char *value)
{
    if (value != NULL) {
        char *v = text_escape_dup(value);
        fprintf(out, "      %-24s %s\n", label, v);
        free(v);
    }
}

void report_detail_text(const struct report_listing *meta, const struct report *r, FILE *out)
{
    char start[21], end[21], recv[21];
    format_rfc3339((time_t)meta->start, start);
    format_rfc3339((time_t)meta->end, end);
    format_rfc3339((time_t)meta->received, recv);
    /* Every string below came from a report: escaped (text_safe) before it is printed. */
    struct text_safe ts = {0};
    fprintf(out, "report %lld\n", (long long)meta->id);
    fprintf(out, "  organization-name  %s\n", text_safe(&ts, meta->organization_name));
    fprintf(out, "  report-id          %s\n", text_safe(&ts, meta->report_id));
    fprintf(out, "  contact-info       %s\n",
            meta->contact_info ? text_safe(&ts, meta->contact_info) : "-");
    fprintf(out, "  date-range         %s .. %s\n", start, end);
    fprintf(out, "  received           %s by %s (%lld bytes%s)\n", recv,
            text_safe(&ts, meta->source), (long long)meta->rawsize, meta->gzip ? ", gzip" : "");
    if (meta->dkim != NULL) /* e-mail: the DKIM result of its message */
        fprintf(out, "  dkim               %s%s%s%s%s%s\n", text_safe(&ts, meta->dkim),
                meta->dkim_domain ? " d=" : "",
                meta->dkim_domain ? text_safe(&ts, meta->dkim_domain) : "",
                meta->dkim_detail ? " (" : "",
                meta->dkim_detail ? text_safe(&ts, meta->dkim_detail) : "",
                meta->dkim_detail ? ")" : "");
    fprintf(out, "  sessions           %lld successful, %lld failed\n", (long long)meta->successful,
            (long long)meta->failed);
    if (meta->conflict_of > 0)
        fprintf(out,
                "  conflict           a copy of report %lld with other content under the "
                "same report-id%s\n",
                (long long)meta->conflict_of, meta->counted ? "" : "; not counted in summaries");
    else if (meta->conflicts > 0)
        fprintf(out,
                "  conflict           %lld later cop%s with other content under this "
                "report-id (stsd reports list)\n",
                (long long)meta->conflicts, meta->conflicts == 1 ? "y" : "ies");
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        fprintf(out, "  policy %zu: %s %s%s%s%s, %lld successful, %lld failed\n", i + 1,
                text_safe(&ts, p->policy_type),
                p->policy_domain ? text_safe(&ts, p->policy_domain) : REPORT_UNATTRIBUTED,
                p->domain_inferred ? " (from " : "", p->domain_inferred ? domain_from(meta) : "",
                p->domain_inferred ? ")" : "", (long long)p->total_successful,
                (long long)p->total_failure);
        for (size_t j = 0; j < p->n_policy_string; j++)
            fprintf(out, "    policy-string  %s\n", text_safe(&ts, p->policy_string[j]));
        for (size_t j = 0; j < p->n_mx_host; j++)
            fprintf(out, "    mx-host        %s\n", text_safe(&ts, p->mx_host[j]));
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct report_failure *f = &p->failures[j];
            fprintf(out, "    failure: %s, %lld sessions\n", text_safe(&ts, f->result_type),
                    (long long)f->failed_session_count);
            text_opt(out, "sending-mta-ip", f->sending_mta_ip);
            text_opt(out, "receiving-mx-hostname", f->receiving_mx_hostname);
            text_opt(out, "receiving-mx-helo", f->receiving_mx_helo);
            text_opt(out, "receiving-ip", f->receiving_ip);
            text_opt(out, "additional-information", f->additional_information);
            text_opt(out, "failure-reason-code", f->failure_reason_code);
        }
    }
    text_safe_free(&ts);
}
