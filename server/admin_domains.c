/* admin_domains.c - what the admin API and the dashboard show of each hosted domain: its
 * policy file, recorded and served ids, the DNS id of the latest check and the certificate. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ domains */

static int served_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const struct admin_served *)item)->domain);
}

static void fill_domain(struct hosted *h, const struct hosted_policy *e,
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
    struct hosted_version *pv = NULL;
    size_t npv = 0;
    if (e->text && hosted_versions(h, e->domain, &pv, &npv) == 0) {
        char hex[65];
        format_hex(e->sha256, 32, hex);
        for (size_t i = 0; i < npv; i++)
            if (strcmp(pv[i].sha256_hex, hex) == 0)
                snprintf(d->policy_id, sizeof(d->policy_id), "%s", pv[i].id);
    }
    free(pv);
    struct db_check *c = NULL;
    size_t nc = 0;
    if (hosted_check_latest(h, e->domain, &c, &nc) == 0 && nc > 0) {
        d->checked = 1;
        d->checked_at = c[0].started;
        d->dns_id = c[0].dns_id ? xstrdup(c[0].dns_id) : NULL;
    }
    db_checks_free(c, nc);
    const struct admin_cert_fact *cert = srv__admin_certs_find(srv__admin_certs_view(h), e->domain);
    if (cert != NULL) {
        d->has_cert = 1;
        d->cert_file = xstrdup(cert->file);
        d->cert_issuer = xstrdup(cert->issuer);
        d->cert_not_after = cert->not_after;
        snprintf(d->cert_source, sizeof(d->cert_source), "%s", cert->source);
    }
    if (rq->have_served) {
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
}

int srv__admin_domains(const struct admin_env *env, struct db *db, const char *only,
                       const struct admin_request *rq, struct admin_domain **out, size_t *n)
{
    (void)env;
    (void)db;
    *out = NULL;
    *n = 0;
    struct hosted *h = rq->hosted;
    if (h == NULL)
        return -1;
    if (only != NULL) {
        struct hosted_policy e;
        if (hosted_policy_get(h, only, 0, &e) != 0) {
            *out = xcalloc(1, sizeof(**out));
            fill_domain(h, &e, rq, *out);
            *n = 1;
        }
        hosted_policy_clear(&e);
        return 0;
    }
    struct hosted_policy_list l;
    char err[256];
    if (hosted_policy_list(h, 0, &l, err, sizeof(err)) != 0)
        return -1;
    if (l.n > 0)
        *out = xcalloc(l.n, sizeof(**out));
    for (size_t i = 0; i < l.n; i++)
        fill_domain(h, &l.items[i], rq, &(*out)[i]);
    *n = l.n;
    hosted_policy_list_free(&l);
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
        free(v[i].cert_issuer);
    }
    free(v);
}

const struct admin_invalid *srv__admin_invalid_find(const struct admin_request *rq,
                                                    const char *domain)
{
    for (size_t i = 0; i < rq->n_invalid; i++)
        if (strcmp(rq->invalid[i].domain, domain) == 0)
            return &rq->invalid[i];
    return NULL;
}

const char *srv__admin_domain_id(const struct admin_domain *d)
{
    return d->have_served && d->served && d->served_id[0] ? d->served_id : d->policy_id;
}

json_t *srv__json_time(int64_t t)
{
    char b[21];
    format_rfc3339((time_t)t, b);
    return json_string(b);
}

json_t *srv__json_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *srv__admin_domain_json(const struct admin_domain *d, time_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "domain", json_string(d->domain));
    json_object_set_new(o, "valid", json_boolean(d->valid));
    json_object_set_new(o, "error", srv__json_str(d->error));
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
                            json_pack("{s:o,s:o,s:b}", "checked", srv__json_time(d->checked_at),
                                      "sts_id", srv__json_str(d->dns_id), "in_agreement", agree));
    } else {
        json_object_set_new(o, "dns", json_null());
    }
    if (d->has_cert) {
        const char *base = strrchr(d->cert_file, '/');
        json_object_set_new(o, "certificate",
                            json_pack("{s:s,s:o,s:I,s:s}", "file", base ? base + 1 : d->cert_file,
                                      "not_after", srv__json_time(d->cert_not_after), "days_left",
                                      (json_int_t)srv__days_left(d->cert_not_after, now), "source",
                                      d->cert_source[0] ? d->cert_source : "file"));
    } else {
        json_object_set_new(o, "certificate", json_null());
    }
    return o;
}
