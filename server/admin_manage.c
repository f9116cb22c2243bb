/* admin_manage.c - the management actions on hosted domains (set a policy, enforce, withdraw,
 * install a certificate, check) as the JSON API under /api/v1 answers them; the dashboard's
 * forms (admin_forms.c) call the same actions. Every change goes through hosted/ (atomic,
 * audited there) and is served before the answer goes out. */
#include "server/admin_int.h"
#include "checker/checker.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "server/server.h"
#include "sql/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_RELOAD_WAIT_MS 10000 /* longest wait for the new tables to be served */

void srv__admin_reply(struct admin_response *rs, int status, json_t *v)
{
    free(rs->body);
    rs->body = json_dumps(v, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(v);
    if (rs->body == NULL) {
        srv__admin_error(rs, 500, "cannot render the answer");
        return;
    }
    rs->len = strlen(rs->body);
    rs->status = status;
    rs->content_type = "application/json";
}

void srv__admin_reply_field(struct admin_response *rs, const char *field, const char *msg)
{
    srv__admin_reply(rs, 422, json_pack("{s:s,s:s}", "error", msg, "field", field));
}

static json_t *time_json(int64_t t)
{
    char b[21];
    format_rfc3339((time_t)t, b);
    return json_string(b);
}

/* The tables the loop threads serve now include the change. */
static void served_now(const char *what, const char *domain)
{
    if (srv_reload_now(ADMIN_RELOAD_WAIT_MS) != 0)
        log_event(LOG_WARN, "admin.reload",
                  "what=%s domain=%s note=\"the change is served "
                  "after the next directory event or SIGHUP\"",
                  what, domain);
}

/* A hosted domain named in a path, normalised into dom, its policy into *p (when p is not
 * NULL; hosted_policy_clear it); else the answer (400 or 404), 0. */
static int hosted_domain(const struct admin_request *rq, const char *name, char dom[254],
                         struct hosted_policy *p, struct admin_response *rs)
{
    char msg[400];
    if (domain_normalise(name, dom, 254) != 0) {
        snprintf(msg, sizeof(msg), "'%.80s' is not a domain name: %s", name,
                 domain_problem(name, strlen(name)));
        srv__admin_error(rs, 400, msg);
        return 0;
    }
    struct hosted_policy mine;
    if (p == NULL)
        p = &mine;
    memset(p, 0, sizeof(*p));
    int found = hosted_policy_get(rq->hosted, dom, HOSTED_IDS, p);
    if (found == 0 || p == &mine)
        hosted_policy_clear(p);
    if (found == 0) {
        snprintf(msg, sizeof(msg), "%s is not a hosted domain", dom);
        srv__admin_error(rs, 404, msg);
        return 0;
    }
    return 1; /* found, or unreadable (p->read_error): the caller decides */
}

/* {"domain","change","policy_id","previous_policy_id","policy","dns":[...]} */
static json_t *policy_json(const struct admin_env *env, const char *dom, const char *change,
                           const char *id, const char *old_id, const char *text)
{
    const struct stsd_config *cfg = env->cfg;
    struct policy_dns_lines l;
    policy_dns_records(dom, id, cfg->n_report_paths > 0 ? cfg->report_paths[0] : NULL, NULL, 0,
                       (const char *const *)cfg->listen, cfg->n_listen, &l);
    json_t *dns = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(dns, json_string(l.v[i]));
    policy_dns_lines_free(&l);
    json_t *o = json_object();
    json_object_set_new(o, "domain", json_string(dom));
    if (change != NULL)
        json_object_set_new(o, "change", json_string(change));
    json_object_set_new(o, "policy_id", json_string(id));
    if (old_id != NULL)
        json_object_set_new(o, "previous_policy_id", old_id[0] ? json_string(old_id) : json_null());
    json_object_set_new(o, "policy", text ? json_string(text) : json_null());
    json_object_set_new(o, "dns", dns);
    return o;
}

/* Compose, write, serve, answer: the one path of every policy change. */
static void put_policy(const struct admin_env *env, const struct admin_request *rq, const char *dom,
                       int mode, const char *const *mx, size_t n_mx, long max_age,
                       const char *actor, struct admin_response *rs)
{
    char field[32] = "", err[300] = "";
    char *text = NULL;
    size_t len = 0;
    if (hosted_policy_compose(mode, mx, n_mx, max_age, &text, &len, field, err, sizeof(err)) != 0) {
        srv__admin_reply_field(rs, field[0] ? field : "policy", err);
        return;
    }
    struct hosted_put res;
    memset(&res, 0, sizeof(res));
    int rc = hosted_policy_put(rq->hosted, dom, text, len, actor, (int64_t)rq->now, &res);
    if (rc == -1) {
        srv__admin_reply_field(rs, res.field[0] ? res.field : "policy", res.error);
    } else if (rc != 0) {
        srv__admin_error(rs, 500, res.error[0] ? res.error : "cannot write the policy");
    } else {
        if (res.change != HOSTED_UNCHANGED)
            served_now("policy", dom);
        static const char *const names[] = {"created", "changed", "unchanged"};
        srv__admin_reply(rs, res.change == HOSTED_CREATED ? 201 : 200,
                         policy_json(env, dom, names[res.change], res.id, res.old_id, text));
        if (res.change == HOSTED_CREATED)
            rs->location = xasprintf("/api/v1/domains/%s", dom);
    }
    free(text);
}

void srv__manage_policy(const struct admin_env *env, const struct admin_request *rq,
                        const char *domain, const char *mode, const char *const *mx, size_t n_mx,
                        long max_age, const char *actor, struct admin_response *rs)
{
    char dom[254], msg[400];
    if (domain_normalise(domain, dom, sizeof(dom)) != 0) {
        snprintf(msg, sizeof(msg), "'%.80s' is not a domain name: %s", domain,
                 domain_problem(domain, strlen(domain)));
        srv__admin_reply_field(rs, "domain", msg);
        return;
    }
    /* an unknown mode (-1) is refused by the composer, which names the field */
    put_policy(env, rq, dom, mode ? policy_mode_parse(mode) : -1, mx, n_mx, max_age, actor, rs);
}

/* The enforce gate: what `stsd policy advise` says. 1 ready; else the 409 answer, 0. */
static int enforce_ready(const struct admin_request *rq, const char *dom,
                         const struct hosted_policy *p, struct admin_response *rs)
{
    if (p->policy.mode == POLICY_MODE_ENFORCE)
        return 1; /* enforcing already: nothing to gate (the answer says unchanged) */
    char err[300];
    struct db *db = hosted_db(rq->hosted, err, sizeof(err));
    if (db == NULL) {
        srv__admin_error(rs, 503, "the database is not available");
        return 0;
    }
    int64_t now = (int64_t)rq->now;
    struct report_summary s;
    struct db_advise_facts f;
    if (db_advise_facts(db, dom, now - REPORT_ADVISE_WINDOW_DAYS * 86400, now + 1, &s, &f) != 0) {
        db_advise_facts_clear(&f);
        srv__admin_error(rs, 503, "the database is not available");
        return 0;
    }
    struct report_advise_in in = {
        .valid = 1, /* the caller answered an invalid policy */
        .mode = policy_mode_name(p->policy.mode),
        .max_age = p->policy.max_age,
        .days = (int64_t)s.groups.n,
        .successful = s.successful,
        .failed = s.failed,
        .have_check = f.nchk > 0,
        .check_errors = f.nchk > 0 ? f.chk[0].errors : 0,
    };
    db_advise_facts_clear(&f);
    struct report_advice a;
    report_advise(&in, &a);
    int ready = p->policy.mode == POLICY_MODE_TESTING && a.ready;
    if (ready)
        return 1;
    json_t *reasons = json_array();
    if (p->valid && p->policy.mode == POLICY_MODE_NONE)
        json_array_append_new(reasons,
                              json_pack("{s:s,s:s}", "id", "mode-none", "message",
                                        "the policy is in mode none: publish mode testing first "
                                        "and collect reports (RFC 8461 §5)"));
    for (size_t i = 0; i < a.n_blockers; i++)
        json_array_append_new(reasons, json_pack("{s:s,s:s}", "id", a.blockers[i].id, "message",
                                                 a.blockers[i].message));
    srv__admin_reply(rs, 409,
                     json_pack("{s:s,s:o}", "error",
                               "not ready for enforce (see stsd policy advise); send "
                               "{\"force\": true} to enforce anyway",
                               "reasons", reasons));
    return 0;
}

void srv__manage_enforce(const struct admin_env *env, const struct admin_request *rq,
                         const char *domain, int force, const char *actor,
                         struct admin_response *rs)
{
    char dom[254];
    struct hosted_policy p;
    if (!hosted_domain(rq, domain, dom, &p, rs))
        return;
    if (!p.valid) {
        char b[300], msg[400];
        snprintf(msg, sizeof(msg), "the policy file is invalid (%s): set a policy first",
                 p.read_error ? p.read_error : policy_diag_first(&p.diag, b, sizeof(b)));
        srv__admin_reply(rs, 409,
                         json_pack("{s:s,s:[{s:s,s:s}]}", "error", msg, "reasons", "id",
                                   "policy-invalid", "message", msg));
    } else if (force || enforce_ready(rq, dom, &p, rs)) {
        put_policy(env, rq, dom, POLICY_MODE_ENFORCE, (const char *const *)p.policy.mx,
                   p.policy.n_mx, p.policy.max_age, actor, rs);
    }
    hosted_policy_clear(&p);
}

void srv__manage_withdraw(const struct admin_env *env, const struct admin_request *rq,
                          const char *domain, int at_once, const char *actor,
                          struct admin_response *rs)
{
    char dom[254], err[300] = "";
    if (!hosted_domain(rq, domain, dom, NULL, rs))
        return;
    int64_t until = 0;
    int rc = hosted_policy_withdraw(rq->hosted, dom, at_once, actor, (int64_t)rq->now, &until, err,
                                    sizeof(err));
    if (rc < 0) {
        srv__admin_error(rs, 500, err[0] ? err : "cannot withdraw the policy");
        return;
    }
    if (rc == 0) {
        snprintf(err, sizeof(err), "%s is not a hosted domain", dom);
        srv__admin_error(rs, 404, err);
        return;
    }
    served_now("withdraw", dom);
    if (at_once) {
        srv__admin_reply(rs, 200, json_pack("{s:s,s:b}", "domain", dom, "removed", 1));
        return;
    }
    /* RFC 8461 §8.3: mode none under a new id, kept until the old max_age has run out. */
    struct hosted_policy p;
    memset(&p, 0, sizeof(p));
    hosted_policy_get(rq->hosted, dom, HOSTED_IDS, &p);
    json_t *o = policy_json(env, dom, NULL, p.id, NULL, p.text);
    json_object_set_new(o, "mode", json_string("none"));
    json_object_set_new(o, "withdraw_until", time_json(until));
    hosted_policy_clear(&p);
    srv__admin_reply(rs, 202, o);
}

void srv__manage_certificate(const struct admin_env *env, const struct admin_request *rq,
                             const char *domain, const char *pem, size_t len, const char *actor,
                             struct admin_response *rs)
{
    char dom[254], err[400] = "";
    if (!hosted_domain(rq, domain, dom, NULL, rs))
        return;
    if (hosted_cert_install(rq->hosted, dom, pem, len, actor, (int64_t)rq->now, err, sizeof(err)) !=
        0) {
        srv__admin_reply_field(rs, "certificate", err);
        return;
    }
    served_now("certificate", dom);
    json_t *o = json_pack("{s:s,s:s+}", "domain", dom, "host", "mta-sts.", dom);
    const struct hosted_cert *v = NULL;
    size_t n = 0;
    int i = hosted_certs(rq->hosted, &v, &n) == 0 ? hosted_cert_for(rq->hosted, dom) : -1;
    if (i >= 0) {
        const char *base = strrchr(v[i].file, '/');
        json_object_set_new(o, "file", json_string(base ? base + 1 : v[i].file));
        json_object_set_new(o, "issuer", json_string(v[i].issuer ? v[i].issuer : ""));
        json_object_set_new(o, "not_before", time_json(v[i].not_before));
        json_object_set_new(o, "not_after", time_json(v[i].not_after));
    }
    (void)env;
    srv__admin_reply(rs, 200, o);
}

void srv__manage_check(const struct admin_env *env, const struct admin_request *rq,
                       const char *domain, int store, struct admin_response *rs)
{
    char dom[254], err[512] = "";
    if (store) {
        if (!hosted_domain(rq, domain, dom, NULL, rs))
            return; /* "check now" is for what is hosted */
    } else if (domain_normalise(domain, dom, sizeof(dom)) != 0) {
        snprintf(err, sizeof(err), "'%.80s' is not a domain name: %s", domain,
                 domain_problem(domain, strlen(domain)));
        srv__admin_reply_field(rs, "domain", err);
        return;
    }
    struct check_result r;
    int rc = srv_check_domain(rq->hosted, env->cfg, dom, store, &r, err, sizeof(err));
    json_t *out = rc < 0 || !r.ran ? NULL : check_result_json(&r);
    check_result_free(&r);
    if (out == NULL) {
        srv__admin_error(rs, rc == -2 ? 500 : 503, err[0] ? err : "the check could not run");
        return;
    }
    free(rs->body);
    rs->body = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(out);
    rs->len = strlen(rs->body);
    rs->status = 200;
    rs->content_type = "application/json";
}
