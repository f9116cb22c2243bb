/* admin_api.c - the admin listener's routes and the JSON API under /api/v1/, run on a worker
 * thread with its own read connection to the database. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Answer with a JSON value (takes the reference). */
static void reply_json(struct admin_response *rs, json_t *v)
{
    free(rs->body);
    rs->body = json_dumps(v, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(v);
    if (rs->body == NULL) {
        srv__admin_error(rs, 500, "cannot render the answer");
        return;
    }
    rs->len = strlen(rs->body);
    rs->status = 200;
    rs->content_type = "application/json";
}

/* ------------------------------------------------------------------ query parameters */

/* 0 when every parameter is one of `allowed` (NULL-terminated; "token" is always allowed),
 * else -1 with msg naming the first unknown one. */
static int params_allowed(const struct admin_params *p, const char *const *allowed, char *msg,
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

/* ------------------------------------------------------------------ certificates */

static int64_t asn1_to_unix(const ASN1_TIME *a)
{
    struct tm tm;
    if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static int cert_cmp(const void *a, const void *b)
{
    return strcmp(((const struct admin_cert *)a)->name, ((const struct admin_cert *)b)->name);
}

int srv__admin_certs(const char *cert_dir, struct admin_cert **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(cert_dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    size_t alloc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && *n < 10000) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5)
            continue;
        const char *ext = de->d_name + l - 4;
        if (strcmp(ext, ".pem") != 0 && strcmp(ext, ".crt") != 0)
            continue;
        char *path = xasprintf("%s/%s", cert_dir, de->d_name);
        FILE *f = fopen(path, "r");
        X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        if (x == NULL) {
            free(path);
            continue;
        }
        if (*n == alloc) {
            alloc = alloc ? 2 * alloc : 8;
            *out = xrealloc(*out, alloc * sizeof(**out));
        }
        struct admin_cert *c = &(*out)[(*n)++];
        c->name = xstrndup(de->d_name, l - 4);
        c->file = path;
        c->not_after = asn1_to_unix(X509_get0_notAfter(x));
        c->x509 = x;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cert_cmp);
    return 0;
}

void srv__admin_certs_free(struct admin_cert *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].file);
        X509_free(v[i].x509);
    }
    free(v);
}

int srv__admin_cert_for(const struct admin_cert *v, size_t n, const char *domain)
{
    char host[300];
    snprintf(host, sizeof(host), "mta-sts.%s", domain);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i].name, host) == 0)
            return (int)i;
    /* RFC 6125 §6.4 name check, e.g. a wildcard or multi-name certificate. */
    for (size_t i = 0; i < n; i++)
        if (X509_check_host(v[i].x509, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ domains */

static int domain_cmp(const void *a, const void *b)
{
    return strcmp(((const struct admin_domain *)a)->domain,
                  ((const struct admin_domain *)b)->domain);
}

static int served_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const struct admin_served *)item)->domain);
}

static void fill_domain(const struct admin_env *env, struct db *db, const struct hosted_policy *e,
                        const struct admin_cert *certs, size_t ncerts,
                        const struct admin_request *rq, struct admin_domain *d)
{
    memset(d, 0, sizeof(*d));
    d->domain = xstrdup(e->domain);
    d->valid = e->valid;
    d->text = e->text ? xstrndup(e->text, e->len) : NULL;
    d->mode = e->valid ? (int)e->policy.mode : -1;
    d->max_age = e->valid ? e->policy.max_age : 0;
    if (e->valid && e->policy.n_mx > 0) {
        d->mx = xcalloc(e->policy.n_mx, sizeof(char *));
        for (size_t i = 0; i < e->policy.n_mx; i++)
            d->mx[i] = xstrdup(e->policy.mx[i]);
        d->n_mx = e->policy.n_mx;
    }
    if (e->read_error) {
        d->error = xstrdup(e->read_error);
    } else if (!e->valid) {
        char buf[300];
        d->error = xstrdup(policy_diag_first(&e->diag, buf, sizeof(buf)));
    }
    /* The id recorded for exactly this content. */
    struct db_policy_version *pv = NULL;
    size_t npv = 0;
    if (e->text && db_policy_versions(db, e->domain, &pv, &npv) == 0) {
        char h[65];
        format_hex(e->sha256, 32, h);
        for (size_t i = 0; i < npv; i++)
            if (strcmp(pv[i].sha256_hex, h) == 0)
                snprintf(d->policy_id, sizeof(d->policy_id), "%s", pv[i].id);
    }
    free(pv);
    struct db_check *c = NULL;
    size_t nc = 0;
    if (db_check_latest(db, e->domain, &c, &nc) == 0 && nc > 0) {
        d->checked = 1;
        d->checked_at = c[0].started;
        d->dns_id = c[0].dns_id ? xstrdup(c[0].dns_id) : NULL;
    }
    db_checks_free(c, nc);
    int ci = srv__admin_cert_for(certs, ncerts, e->domain);
    if (ci >= 0) {
        d->has_cert = 1;
        d->cert_file = xstrdup(certs[ci].file);
        d->cert_not_after = certs[ci].not_after;
    }
    if (rq != NULL && rq->have_served) {
        d->have_served = 1;
        const struct admin_served *sv = rq->n_served ? bsearch(e->domain, rq->served, rq->n_served,
                                                               sizeof(*rq->served), served_cmp)
                                                     : NULL;
        if (sv != NULL) {
            d->served = 1;
            d->stale = sv->stale;
            snprintf(d->served_id, sizeof(d->served_id), "%s", sv->id);
        }
    }
    (void)env;
}

int srv__admin_domains(const struct admin_env *env, struct db *db, const char *only,
                       const struct admin_request *rq, struct admin_domain **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct admin_cert *certs = NULL;
    size_t ncerts = 0;
    srv__admin_certs(env->cfg->cert_dir, &certs, &ncerts);
    char err[256];
    struct hosted *hs = hosted_open(env->cfg, HOSTED_NO_DB, err, sizeof(err));
    if (hs == NULL) {
        srv__admin_certs_free(certs, ncerts);
        return -1;
    }
    if (only != NULL) {
        struct hosted_policy e;
        if (hosted_policy_get(hs, only, 0, &e) != 0) {
            *out = xcalloc(1, sizeof(**out));
            fill_domain(env, db, &e, certs, ncerts, rq, *out);
            *n = 1;
        }
        hosted_policy_clear(&e);
        hosted_close(hs);
        srv__admin_certs_free(certs, ncerts);
        return 0;
    }
    struct hosted_policy_list l;
    int lrc = hosted_policy_list(hs, 0, &l, err, sizeof(err));
    hosted_close(hs);
    if (lrc != 0) {
        srv__admin_certs_free(certs, ncerts);
        return -1;
    }
    if (l.n > 0)
        *out = xcalloc(l.n, sizeof(**out));
    for (size_t i = 0; i < l.n; i++)
        fill_domain(env, db, &l.items[i], certs, ncerts, rq, &(*out)[i]);
    *n = l.n;
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), domain_cmp);
    hosted_policy_list_free(&l);
    srv__admin_certs_free(certs, ncerts);
    return 0;
}

void srv__admin_domains_free(struct admin_domain *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].domain);
        free(v[i].error);
        free(v[i].text);
        for (size_t j = 0; j < v[i].n_mx; j++)
            free(v[i].mx[j]);
        free(v[i].mx);
        free(v[i].dns_id);
        free(v[i].cert_file);
    }
    free(v);
}

const char *srv__admin_domain_id(const struct admin_domain *d)
{
    return d->have_served && d->served && d->served_id[0] ? d->served_id : d->policy_id;
}

static json_t *time_json(int64_t t)
{
    char b[21];
    format_rfc3339((time_t)t, b);
    return json_string(b);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *srv__admin_domain_json(const struct admin_domain *d, time_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "domain", json_string(d->domain));
    json_object_set_new(o, "valid", json_boolean(d->valid));
    json_object_set_new(o, "error", str_or_null(d->error));
    json_object_set_new(o, "mode",
                        d->mode >= 0 ? json_string(policy_mode_name((enum policy_mode)d->mode))
                                     : json_null());
    json_object_set_new(o, "max_age", d->valid ? json_integer(d->max_age) : json_null());
    json_t *mx = json_array();
    for (size_t i = 0; i < d->n_mx; i++)
        json_array_append_new(mx, json_string(d->mx[i]));
    json_object_set_new(o, "mx", mx);
    json_object_set_new(o, "policy",
                        d->text ? json_stringn(d->text, strlen(d->text)) : json_null());
    json_object_set_new(o, "policy_id", d->policy_id[0] ? json_string(d->policy_id) : json_null());
    if (d->have_served)
        json_object_set_new(
            o, "served",
            d->served ? json_pack("{s:o,s:b}", "policy_id",
                                  d->served_id[0] ? json_string(d->served_id) : json_null(),
                                  "stale", d->stale)
                      : json_null());
    if (d->checked) {
        const char *id = srv__admin_domain_id(d);
        int agree = d->dns_id != NULL && id[0] && strcmp(d->dns_id, id) == 0;
        json_object_set_new(o, "dns",
                            json_pack("{s:o,s:o,s:b}", "checked", time_json(d->checked_at),
                                      "sts_id", str_or_null(d->dns_id), "in_agreement", agree));
    } else {
        json_object_set_new(o, "dns", json_null());
    }
    if (d->has_cert) {
        int64_t left = (d->cert_not_after - (int64_t)now) / DAY;
        if (d->cert_not_after < (int64_t)now)
            left = -((int64_t)now - d->cert_not_after + DAY - 1) / DAY;
        const char *base = strrchr(d->cert_file, '/');
        json_object_set_new(o, "certificate",
                            json_pack("{s:s,s:o,s:I}", "file", base ? base + 1 : d->cert_file,
                                      "not_after", time_json(d->cert_not_after), "days_left",
                                      (json_int_t)left));
    } else {
        json_object_set_new(o, "certificate", json_null());
    }
    return o;
}

/* ------------------------------------------------------------------ checks */

static json_t *check_json(struct db *db, const struct db_check *c, int with_findings)
{
    static const char *const verdicts[] = {"ok", "warning", "error"};
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "domain", json_string(c->domain));
    json_object_set_new(o, "started", time_json(c->started));
    json_object_set_new(o, "duration_ms", json_integer(c->duration_ms));
    json_object_set_new(o, "status", json_integer(c->status));
    json_object_set_new(
        o, "verdict",
        json_string(c->status >= 0 && c->status <= 2 ? verdicts[c->status] : "unavailable"));
    json_object_set_new(o, "errors", json_integer(c->errors));
    json_object_set_new(o, "warnings", json_integer(c->warnings));
    json_object_set_new(o, "infos", json_integer(c->infos));
    json_object_set_new(o, "dns_id", str_or_null(c->dns_id));
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
    if (params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
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
                                                   time_json(pv[i].first_seen)));
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

static void api_reports(const struct admin_env *env, struct db *db, const struct admin_params *p,
                        time_t now, struct admin_response *rs)
{
    static const char *const allowed[] = {"domain", "since", "until", "limit", NULL};
    char msg[400], dom[256];
    if (params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    struct db_report_filter f = {0};
    if (srv__admin_window(p, now, &f.since, &f.until, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    const char *d = srv__admin_param(p, "domain");
    if (d != NULL) {
        if (domain_param(d, dom, sizeof(dom), msg, sizeof(msg)) != 0) {
            srv__admin_error(rs, 400, msg);
            return;
        }
        f.domain = dom;
    }
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
    if (params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
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
    char msg[400], dom[256];
    if (params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    struct report_summary s;
    memset(&s, 0, sizeof(s));
    if (srv__admin_window(p, now, &s.since, &s.until, msg, sizeof(msg)) != 0) {
        srv__admin_error(rs, 400, msg);
        return;
    }
    const char *d = srv__admin_param(p, "domain");
    if (d != NULL) {
        if (domain_param(d, dom, sizeof(dom), msg, sizeof(msg)) != 0) {
            srv__admin_error(rs, 400, msg);
            return;
        }
        s.domain = dom;
    }
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
    if (params_allowed(p, allowed, msg, sizeof(msg)) != 0) {
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
    const char *path = rq->path;
    if (strcmp(path, "/") == 0) {
        srv__admin_dashboard(env, db, &p, rq, rs);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        srv__admin_metrics(env, db, rq->now, rs);
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
