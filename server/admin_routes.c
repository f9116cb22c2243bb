/* admin_routes.c - which management request is which action: the routes of the management
 * API and of the dashboard's forms (with the methods each takes), the validation of their JSON
 * bodies, and the audit log route. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_AUDIT_LIMIT 100 /* default `limit` of /api/v1/audit */
#define ADMIN_AUDIT_MAX 10000 /* largest `limit` of /api/v1/audit */

/* The segment after `prefix` up to the next '/' (or the end) into name; what follows in *rest.
 * 0, or -1 when the path does not start with prefix or the segment is empty or too long. */
static int segment(const char *path, const char *prefix, char name[256], const char **rest)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return -1;
    const char *s = path + pl, *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || n > 255)
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    *rest = s + n;
    return 0;
}

enum admin_route srv__admin_route(const char *path, enum admin_method m, char name[256],
                                  const char **allow)
{
    static const struct {
        const char *prefix, *suffix; /* suffix NULL: the path ends with the name */
        enum admin_route route;
        enum admin_method method;
        const char *allow;
    } table[] = {
        {"/api/v1/domains/", "/policy", ADMIN_ROUTE_POLICY, ADMIN_PUT, "PUT"},
        {"/api/v1/domains/", "/enforce", ADMIN_ROUTE_ENFORCE, ADMIN_POST, "POST"},
        {"/api/v1/domains/", "/certificate", ADMIN_ROUTE_CERTIFICATE, ADMIN_PUT, "PUT"},
        {"/forms/", NULL, ADMIN_ROUTE_FORM, ADMIN_POST, "GET, HEAD, POST"},
    };
    const char *rest;
    int read = m == ADMIN_GET || m == ADMIN_HEAD;
    *allow = NULL;
    name[0] = '\0';
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (segment(path, table[i].prefix, name, &rest) != 0)
            continue;
        if (table[i].suffix ? strcmp(rest, table[i].suffix) != 0 : rest[0] != '\0')
            continue;
        if (m == table[i].method)
            return table[i].route;
        if (table[i].route == ADMIN_ROUTE_FORM && read)
            return ADMIN_ROUTE_FORM_PAGE;
        *allow = table[i].allow;
        return ADMIN_ROUTE_METHOD;
    }
    if (segment(path, "/api/v1/domains/", name, &rest) == 0 && rest[0] == '\0') {
        if (m == ADMIN_DELETE)
            return ADMIN_ROUTE_WITHDRAW;
        if (read)
            return ADMIN_ROUTE_NONE; /* the domain as admin_api.c shows it */
        *allow = "GET, HEAD, DELETE";
        return ADMIN_ROUTE_METHOD;
    }
    name[0] = '\0';
    if (strcmp(path, "/api/v1/check") == 0) {
        if (m == ADMIN_POST)
            return ADMIN_ROUTE_CHECK;
        *allow = "POST";
        return ADMIN_ROUTE_METHOD;
    }
    if (strcmp(path, "/api/v1/audit") == 0) {
        if (read)
            return ADMIN_ROUTE_AUDIT;
        *allow = "GET, HEAD";
        return ADMIN_ROUTE_METHOD;
    }
    if (read)
        return ADMIN_ROUTE_NONE;
    *allow = "GET, HEAD"; /* every other resource is read-only */
    return ADMIN_ROUTE_METHOD;
}

/* ------------------------------------------------------------------ JSON bodies */

/* The body as a JSON object (duplicate keys refused); an empty body is {} when empty_ok.
 * NULL with field ("" for the body as a whole) and err. */
static json_t *body_object(const char *body, size_t len, int empty_ok, char field[32], char *err,
                           size_t errlen)
{
    field[0] = '\0';
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        if (empty_ok)
            return json_object();
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) {
        snprintf(err, errlen, "the body is not JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* -1 with field and err when o has a key not in keys (NULL-terminated). */
static int only_keys(json_t *o, const char *const *keys, char field[32], char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t j = 0;
        while (keys[j] && strcmp(keys[j], k) != 0)
            j++;
        if (keys[j] == NULL) {
            snprintf(field, 32, "%.31s", k);
            snprintf(err, errlen, "unknown field '%.60s'", k);
            return -1;
        }
    }
    return 0;
}

static int fail(char field[32], const char *f, char *err, size_t errlen, const char *msg)
{
    snprintf(field, 32, "%s", f);
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int srv__admin_policy_body(const char *body, size_t len, struct admin_policy_body *out,
                           char field[32], char *err, size_t errlen)
{
    static const char *const keys[] = {"mode", "mx", "max_age", NULL};
    memset(out, 0, sizeof(*out));
    json_t *o = body_object(body, len, 0, field, err, errlen);
    if (o == NULL)
        return -1;
    int rc = -1;
    json_t *mode = json_object_get(o, "mode"), *mx = json_object_get(o, "mx");
    json_t *ma = json_object_get(o, "max_age");
    if (only_keys(o, keys, field, err, errlen) != 0)
        goto out;
    if (!json_is_string(mode)) {
        fail(field, "mode", err, errlen, "mode: a string, one of enforce, testing, none");
        goto out;
    }
    if (mx != NULL && !json_is_array(mx)) {
        fail(field, "mx", err, errlen, "mx: an array of host names");
        goto out;
    }
    if (json_array_size(mx) > ADMIN_MAX_MX) {
        fail(field, "mx", err, errlen, "mx: at most " ADMIN_MAX_MX_TEXT " entries");
        goto out;
    }
    if (!json_is_integer(ma)) {
        fail(field, "max_age", err, errlen, "max_age: an integer number of seconds");
        goto out;
    }
    json_int_t age = json_integer_value(ma);
    out->max_age = age < 0 ? -1 : age > 99999999999LL ? 99999999999L : (long)age;
    snprintf(out->mode, sizeof(out->mode), "%.15s", json_string_value(mode));
    size_t i;
    json_t *v;
    json_array_foreach(mx, i, v)
    {
        if (!json_is_string(v)) {
            fail(field, "mx", err, errlen, "mx: every entry must be a string");
            goto out;
        }
        strv_push(&out->mx, &out->n_mx, json_string_value(v));
    }
    rc = 0;
out:
    json_decref(o);
    if (rc != 0)
        srv__admin_policy_body_free(out);
    return rc;
}

void srv__admin_policy_body_free(struct admin_policy_body *b)
{
    strv_free(b->mx, b->n_mx);
    b->mx = NULL;
    b->n_mx = 0;
}

int srv__admin_enforce_body(const char *body, size_t len, int *force, char field[32], char *err,
                            size_t errlen)
{
    static const char *const keys[] = {"force", NULL};
    *force = 0;
    json_t *o = body_object(body, len, 1, field, err, errlen);
    if (o == NULL)
        return -1;
    json_t *f = json_object_get(o, "force");
    int rc = only_keys(o, keys, field, err, errlen);
    if (rc == 0 && f != NULL && !json_is_boolean(f))
        rc = fail(field, "force", err, errlen, "force: true or false");
    *force = rc == 0 && json_is_true(f);
    json_decref(o);
    return rc;
}

int srv__admin_check_body(const char *body, size_t len, char domain[256], char field[32], char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"domain", NULL};
    domain[0] = '\0';
    json_t *o = body_object(body, len, 0, field, err, errlen);
    if (o == NULL)
        return -1;
    json_t *d = json_object_get(o, "domain");
    int rc = only_keys(o, keys, field, err, errlen);
    if (rc == 0 && (!json_is_string(d) || json_string_length(d) > 255))
        rc = fail(field, "domain", err, errlen, "domain: a domain name");
    if (rc == 0)
        snprintf(domain, 256, "%s", json_string_value(d));
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------------ dispatch */

static void audit(const struct admin_request *rq, const struct admin_params *p,
                  struct admin_response *rs)
{
    char msg[300], dom[254];
    const char *d = srv__admin_param(p, "domain"), *l = srv__admin_param(p, "limit");
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, "domain") != 0 && strcmp(p->v[i].name, "limit") != 0 &&
            strcmp(p->v[i].name, "token") != 0) {
            snprintf(msg, sizeof(msg), "unknown parameter '%.40s'", p->v[i].name);
            srv__admin_error(rs, 400, msg);
            return;
        }
    if (d != NULL && domain_normalise(d, dom, sizeof(dom)) != 0) {
        srv__admin_error(rs, 400, "domain: not a domain name");
        return;
    }
    long long limit = ADMIN_AUDIT_LIMIT;
    if (l != NULL) {
        char *end;
        limit = strtoll(l, &end, 10);
        if (*l == '\0' || *end != '\0' || limit < 1 || limit > ADMIN_AUDIT_MAX) {
            snprintf(msg, sizeof(msg), "limit: must be 1-%d", ADMIN_AUDIT_MAX);
            srv__admin_error(rs, 400, msg);
            return;
        }
    }
    struct hosted_audit *v = NULL;
    size_t n = 0;
    if (hosted_audit_list(rq->hosted, d ? dom : NULL, limit, &v, &n) != 0) {
        srv__admin_error(rs, 503, "the database is not available");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char t[21];
        format_rfc3339((time_t)v[i].at, t);
        json_array_append_new(
            a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "id", (json_int_t)v[i].id, "time", t,
                         "actor", v[i].actor ? v[i].actor : "", "action",
                         v[i].action ? v[i].action : "", "domain", v[i].domain ? v[i].domain : "",
                         "old_policy_id", v[i].old_id ? json_string(v[i].old_id) : json_null(),
                         "new_policy_id", v[i].new_id ? json_string(v[i].new_id) : json_null(),
                         "detail", v[i].detail ? json_string(v[i].detail) : json_null()));
    }
    hosted_audit_free(v, n);
    srv__admin_reply(rs, 200, json_pack("{s:o}", "audit", a));
}

int srv__admin_manage(const struct admin_env *env, const struct admin_request *rq,
                      const struct admin_params *p, struct admin_response *rs)
{
    char name[256], field[32], err[400];
    const char *allow = NULL;
    enum admin_route r = srv__admin_route(rq->path, rq->method, name, &allow);
    const char *body = rq->body ? rq->body : "";
    switch (r) {
    case ADMIN_ROUTE_NONE:
        return 0;
    case ADMIN_ROUTE_METHOD:
        srv__admin_error(rs, 405, "this resource does not take that method");
        rs->allow = allow;
        return 1;
    default:
        break;
    }
    if (rq->hosted == NULL) {
        srv__admin_error(rs, 503, "the state directory is not available");
        return 1;
    }
    switch (r) {
    case ADMIN_ROUTE_NONE:
    case ADMIN_ROUTE_METHOD:
        return 0;
    case ADMIN_ROUTE_POLICY: {
        struct admin_policy_body b;
        if (srv__admin_policy_body(body, rq->body_len, &b, field, err, sizeof(err)) != 0) {
            srv__admin_reply_field(rs, field, err);
            return 1;
        }
        srv__manage_policy(env, rq, name, b.mode, (const char *const *)b.mx, b.n_mx, b.max_age,
                           "api", rs);
        srv__admin_policy_body_free(&b);
        return 1;
    }
    case ADMIN_ROUTE_ENFORCE: {
        int force = 0;
        if (srv__admin_enforce_body(body, rq->body_len, &force, field, err, sizeof(err)) != 0)
            srv__admin_reply_field(rs, field, err);
        else
            srv__manage_enforce(env, rq, name, force, "api", rs);
        return 1;
    }
    case ADMIN_ROUTE_WITHDRAW: {
        const char *now = srv__admin_param(p, "now");
        int at_once = now != NULL && (strcmp(now, "1") == 0 || strcmp(now, "true") == 0);
        srv__manage_withdraw(env, rq, name, at_once, "api", rs);
        return 1;
    }
    case ADMIN_ROUTE_CERTIFICATE:
        srv__manage_certificate(env, rq, name, body, rq->body_len, "api", rs);
        return 1;
    case ADMIN_ROUTE_CHECK:
        if (srv__admin_check_body(body, rq->body_len, name, field, err, sizeof(err)) != 0)
            srv__admin_reply_field(rs, field, err);
        else
            srv__manage_check(env, rq, name, 0, rs);
        return 1;
    case ADMIN_ROUTE_AUDIT:
        audit(rq, p, rs);
        return 1;
    case ADMIN_ROUTE_FORM:
        srv__admin_form(env, rq, name, rs);
        return 1;
    case ADMIN_ROUTE_FORM_PAGE:
        srv__admin_form_page(env, rq, name, p, rs);
        return 1;
    }
    return 0;
}
