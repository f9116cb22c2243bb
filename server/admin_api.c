/* admin_api.c - the admin listener's routes and the JSON API under /api/v1/, run on a worker
 * thread with its own read connection to the database. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

void srv__admin_error(struct admin_response *rs, int status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    free(rs->body);
    rs->body = json_dumps(o, JSON_COMPACT);
    rs->len = strlen(rs->body);
    json_decref(o);
    rs->status = status;
    rs->content_type = "application/json";
}

/* Answer 200 with a JSON value (takes the reference). */
static void reply_json(struct admin_response *rs, json_t *v)
{
    srv__admin_reply(rs, 200, v);
}

/* ------------------------------------------------------------------ query parameters */

int srv__admin_params_allowed(const struct admin_params *p, const char *const *allowed, char *msg,
                              size_t msglen)
{
    for (size_t i = 0; i < p->n; i++) {
        int ok = strcmp(p->v[i].name, "token") == 0;
        for (size_t j = 0; !ok && allowed[j]; j++)
            ok = strcmp(p->v[i].name, allowed[j]) == 0;
        if (!ok) {
            snprintf(msg, msglen, "unknown parameter '%.40s'", p->v[i].name);
            return -1;
        }
    }
    return 0;
}

/* since/until as `stsd reports` reads them (parse_window): [since, until). */
int srv__admin_window(const struct admin_params *p, time_t now, int64_t *since, int64_t *until,
                      char *msg, size_t msglen)
{
    return parse_window(srv__admin_param(p, "since"), srv__admin_param(p, "until"), now, since,
                        until, msg, msglen);
}

/* A domain parameter: lowercase, valid (domain_normalise). -1 with msg. */
static int domain_param(const char *in, char *out, size_t outsz, char *msg, size_t msglen)
{
    const char *why = domain_normalise_problem(in, strlen(in), out, outsz);
    if (why != NULL)
        snprintf(msg, msglen, "domain: '%.80s' %s", in, why);
    return why != NULL ? -1 : 0;
}

/* The domain filter of reports and summary: a domain name, or REPORT_UNATTRIBUTED for the
 * policies that named none. */
static int filter_param(const char *in, char *out, size_t outsz, char *msg, size_t msglen)
{
    if (strcmp(in, REPORT_UNATTRIBUTED) != 0)
        return domain_param(in, out, outsz, msg, msglen);
    snprintf(out, outsz, "%s", in);
    return 0;
}

/* ------------------------------------------------------------------ checks */

static json_t *check_json(struct db *db, const struct db_check *c, int with_findings)
{
    static const char *const verdicts[] = {"ok", "warning", "error"};
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "domain", json_string(c->domain));
    json_object_set_new(o, "started", srv__json_time(c->started));
    json_object_set_new(o, "duration_ms", json_integer(c->duration_ms));
    json_object_set_new(o, "status", json_integer(c->status));
    json_object_set_new(
        o, "verdict",
        json_string(c->status >= 0 && c->status <= 2 ? verdicts[c->status] : "unavailable"));
    json_object_set_new(o, "errors", json_integer(c->errors));
    json_object_set_new(o, "warnings", json_integer(c->warnings));
    json_object_set_new(o, "infos", json_integer(c->infos));
    json_object_set_new(o, "dns_id", srv__json_str(c->dns_id));
    if (with_findings) {
        struct db_check_finding *f = NULL;
        size_t nf = 0;
        json_t *a = json_array();
        if (db_check_findings(db, c->id, &f, &nf) == 0)
            for (size_t i = 0; i < nf; i++)
                json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", f[i].finding,
                                                   "severity", f[i].severity, "subject",
                                                   f[i].subject, "message", f[i].message));
        db_check_findings_free(f, nf);
        json_object_set_new(o, "findings", a);
    }
    if (c->result != NULL) {
        json_t *r = json_loads(c->result, 0, NULL);
        json_object_set_new(o, "result", r ? r : json_null());
    }
    return o;
}

/* ------------------------------------------------------------------ routes */

static int is_hosted(const struct admin_env *env, const char *domain)
{
    char err[256];
    struct hosted *hs = hosted_open(env->cfg, HOSTED_NO_DB, err, sizeof(err));
    struct hosted_policy e;
    int yes = hs != NULL && hosted_policy_get(hs, domain, 0, &e) != 0;
    if (hs != NULL)
        hosted_policy_clear(&e);
    hosted_close(hs);
    return yes;
}

static void api_domains(const struct admin_env *env, struct db *db, const char *one,
                        const struct admin_params *p, const struct admin_request *rq,
                        struct admin_response *rs)
{
    static const char *const allowed[] = {NULL};
    char msg[400], dom[256];
    if (srv__admin_params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    if (one != NULL && domain_param(one, dom, sizeof(dom), msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    struct admin_domain *d = NULL;
    size_t n = 0;
    if (srv__admin_domains(env, db, one ? dom : NULL, rq, &d, &n) != 0) {
        srv__admin_error(rs, 500, "cannot read the policy directory");
        return;
    }
    if (one != NULL) {
        if (n == 0) {
            snprintf(msg, sizeof(msg), "%s is not a hosted domain", dom);
            {
                srv__admin_error(rs, 404, msg);
                return;
            }
        }
        json_t *o = srv__admin_domain_json(&d[0], rq->now);
        struct db_policy_version *pv = NULL;
        size_t npv = 0;
        json_t *a = json_array();
        if (db_policy_versions(db, dom, &pv, &npv) == 0)
            for (size_t i = 0; i < npv; i++)
                json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "id", pv[i].id, "sha256",
                                                   pv[i].sha256_hex, "first_seen",
                                                   srv__json_time(pv[i].first_seen)));
        free(pv);
        json_object_set_new(o, "policy_versions", a);
        struct db_check *c = NULL;
        size_t nc = 0;
        if (db_check_latest(db, dom, &c, &nc) == 0 && nc > 0)
            json_object_set_new(o, "latest_check", check_json(db, &c[0], 1));
        else
            json_object_set_new(o, "latest_check", json_null());
        db_checks_free(c, nc);
        srv__admin_domains_free(d, n);
        {
            reply_json(rs, o);
            return;
        }
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, srv__admin_domain_json(&d[i], rq->now));
    srv__admin_domains_free(d, n);
    reply_json(rs, json_pack("{s:o}", "domains", a));
}

/* The parameters reports and summary share: only `allowed` ones, the window [since, until)
 * and the domain filter (*domain = dom, or NULL without one). 0, or -1 with the 400 answered. */
static int report_query(const struct admin_params *p, const char *const *allowed, time_t now,
                        int64_t *since, int64_t *until, const char **domain, char dom[256],
                        struct admin_response *rs)
{
    char msg[400];
    const char *d = srv__admin_param(p, "domain");
    *domain = NULL;
    if (srv__admin_params_allowed(p, allowed, msg, sizeof(msg)) != 0 ||
        srv__admin_window(p, now, since, until, msg, sizeof(msg)) != 0 ||
        (d != NULL && filter_param(d, dom, 256, msg, sizeof(msg)) != 0)) {
        srv__admin_error(rs, 400, msg);
        return -1;
    }
    if (d != NULL)
        *domain = dom;
    return 0;
}

static void api_reports(const struct admin_env *env, struct db *db, const struct admin_params *p,
                        time_t now, struct admin_response *rs)
{
    static const char *const allowed[] = {"domain", "since", "until", "limit", NULL};
    char msg[400], dom[256];
    struct db_report_filter f = {0};
    if (report_query(p, allowed, now, &f.since, &f.until, &f.domain, dom, rs) != 0)
        return;
    f.limit = ADMIN_LIST_LIMIT;
    const char *l = srv__admin_param(p, "limit");
    if (l != NULL) {
        char *end;
        errno = 0;
        long long v = strtoll(l, &end, 10);
        if (*l == '\0' || *end != '\0' || errno != 0 || v < 1 || v > ADMIN_LIST_LIMIT) {
            snprintf(msg, sizeof(msg), "limit: must be 1-%d", ADMIN_LIST_LIMIT);
            {
                srv__admin_error(rs, 400, msg);
                return;
            }
        }
        f.limit = v;
    }
    struct report_listing *v = NULL;
    size_t n = 0;
    if (db_report_list(db, &f, &v, &n) != 0) {
        srv__admin_error(rs, 503, "the database is not available");
        return;
    }
    json_t *o = report_list_json(v, n, f.since, f.until);
    db_report_list_free(v, n);
    (void)env;
    reply_json(rs, o);
}

/* "42" -> 42; -1 when not a positive decimal number. */
static int64_t parse_id(const char *s, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 0 ? v : -1;
}

static void api_report(struct db *db, const char *rest, const struct admin_params *p,
                       struct admin_response *rs)
{
    static const char *const allowed[] = {NULL};
    char msg[400];
    if (srv__admin_params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    const char *slash = strchr(rest, '/');
    int raw = 0;
    if (slash != NULL) {
        if (strcmp(slash, "/raw") != 0) {
            srv__admin_error(rs, 404, "no such resource");
            return;
        }
        raw = 1;
    }
    int64_t id = parse_id(rest, slash ? (size_t)(slash - rest) : strlen(rest));
    if (id < 0) {
        srv__admin_error(rs, 400, "report id: must be a positive integer");
        return;
    }
    struct report_listing meta;
    struct report r;
    memset(&meta, 0, sizeof(meta));
    memset(&r, 0, sizeof(r));
    void *bytes = NULL;
    size_t blen = 0;
    int found = db_report_get(db, id, &meta, &r, raw ? &bytes : NULL, &blen);
    if (found < 0) {
        srv__admin_error(rs, 503, "the database is not available");
        return;
    }
    if (found == 0) {
        snprintf(msg, sizeof(msg), "no report with id %lld", (long long)id);
        {
            srv__admin_error(rs, 404, msg);
            return;
        }
    }
    if (raw) {
        free(rs->body);
        rs->body = bytes;
        rs->len = blen;
        rs->status = 200;
        rs->content_type = meta.gzip ? "application/tlsrpt+gzip" : "application/tlsrpt+json";
        rs->content_disposition = meta.gzip ? "attachment; filename=\"report.json.gz\""
                                            : "attachment; filename=\"report.json\"";
    } else {
        reply_json(rs, report_detail_json(&meta, &r));
    }
    db_report_listing_clear(&meta);
    db_report_clear(&r);
}

static void api_summary(struct db *db, const struct admin_params *p, time_t now,
                        struct admin_response *rs)
{
    static const char *const allowed[] = {"domain", "since", "until", "by", NULL};
    char dom[256];
    struct report_summary s;
    memset(&s, 0, sizeof(s));
    if (report_query(p, allowed, now, &s.since, &s.until, &s.domain, dom, rs) != 0)
        return;
    const char *by = srv__admin_param(p, "by");
    if (by != NULL && report_group_parse(by, &s.by) != 0) {
        srv__admin_error(rs, 400, "by: must be day, domain, mx, reporter or result");
        return;
    }
    if (db_report_summary(db, &s) != 0) {
        db_report_summary_clear(&s);
        {
            srv__admin_error(rs, 503, "the database is not available");
            return;
        }
    }
    report_summary_sort(&s);
    json_t *o = report_summary_json(&s);
    db_report_summary_clear(&s);
    reply_json(rs, o);
}

static void api_checks(const struct admin_env *env, struct db *db, const struct admin_params *p,
                       struct admin_response *rs)
{
    static const char *const allowed[] = {"domain", "limit", NULL};
    char msg[400], dom[256];
    if (srv__admin_params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    const char *d = srv__admin_param(p, "domain");
    if (d != NULL) {
        if (domain_param(d, dom, sizeof(dom), msg, sizeof(msg)) != 0) {
            srv__admin_error(rs, 400, msg);
            return;
        }
        if (!is_hosted(env, dom)) {
            snprintf(msg, sizeof(msg), "%s is not a hosted domain", dom);
            {
                srv__admin_error(rs, 404, msg);
                return;
            }
        }
    }
    int64_t limit = ADMIN_CHECK_HISTORY;
    const char *l = srv__admin_param(p, "limit");
    if (l != NULL) {
        int64_t v = parse_id(l, strlen(l));
        if (v < 1 || v > DB_CHECK_MAX_ROWS) {
            snprintf(msg, sizeof(msg), "limit: must be 1-%d", DB_CHECK_MAX_ROWS);
            {
                srv__admin_error(rs, 400, msg);
                return;
            }
        }
        limit = v;
    }
    struct db_check *c = NULL, *h = NULL;
    size_t nc = 0, nh = 0;
    if (db_check_latest(db, d ? dom : NULL, &c, &nc) != 0 ||
        db_check_history(db, d ? dom : NULL, limit, 0, &h, &nh) != 0) {
        db_checks_free(c, nc);
        {
            srv__admin_error(rs, 503, "the database is not available");
            return;
        }
    }
    json_t *latest = json_array(), *hist = json_array();
    for (size_t i = 0; i < nc; i++)
        json_array_append_new(latest, check_json(db, &c[i], 1));
    for (size_t i = 0; i < nh; i++)
        json_array_append_new(hist, check_json(db, &h[i], 0));
    db_checks_free(c, nc);
    db_checks_free(h, nh);
    reply_json(rs, json_pack("{s:o,s:o}", "latest", latest, "history", hist));
}

void srv__admin_handle(const struct admin_env *env, struct db *db, const struct admin_request *rq,
                       struct admin_response *rs)
{
    struct admin_params p;
    rs->status = 500;
    if (srv__admin_params_parse(rq->query, &p) != 0) {
        srv__admin_error(rs, 400, "malformed query string");
        return;
    }
    if (srv__admin_manage(env, rq, &p, rs))
        return;
    const char *path = rq->path;
    if (strcmp(path, "/") == 0) {
        srv__admin_dashboard(env, db, &p, rq, rs);
        return;
    }
    if (strncmp(path, ADMIN_DOMAIN_PAGE, sizeof(ADMIN_DOMAIN_PAGE) - 1) == 0 &&
        path[sizeof(ADMIN_DOMAIN_PAGE) - 1] != '\0') {
        srv__admin_domain_page(env, db, path + sizeof(ADMIN_DOMAIN_PAGE) - 1, &p, rq, rs);
        return;
    }
    if (strncmp(path, ADMIN_REPORT_PAGE, sizeof(ADMIN_REPORT_PAGE) - 1) == 0) {
        if (srv__page_params(&p, (const char *const[]){NULL}, rq, NULL, NULL, rs) == 0)
            srv__admin_report_page(db, path + sizeof(ADMIN_REPORT_PAGE) - 1, rs);
        return;
    }
    if (strcmp(path, "/check") == 0) {
        srv__admin_checker_page(env, &p, rq, rs);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        srv__admin_metrics(env, db, rq, rs);
        return;
    }
    static const char api[] = "/api/v1/";
    if (strncmp(path, api, sizeof(api) - 1) != 0) {
        srv__admin_error(rs, 404, "no such resource");
        return;
    }
    const char *r = path + sizeof(api) - 1;
    if (strcmp(r, "domains") == 0) {
        api_domains(env, db, NULL, &p, rq, rs);
        return;
    }
    if (strncmp(r, "domains/", 8) == 0 && r[8] != '\0' && strchr(r + 8, '/') == NULL) {
        api_domains(env, db, r + 8, &p, rq, rs);
        return;
    }
    if (strcmp(r, "reports") == 0) {
        api_reports(env, db, &p, rq->now, rs);
        return;
    }
    if (strncmp(r, "reports/", 8) == 0) {
        api_report(db, r + 8, &p, rs);
        return;
    }
    if (strcmp(r, "summary") == 0) {
        api_summary(db, &p, rq->now, rs);
        return;
    }
    if (strcmp(r, "checks") == 0) {
        api_checks(env, db, &p, rs);
        return;
    }
    srv__admin_error(rs, 404, "no such resource");
}
