/* admin_forms.c - the dashboard's forms for the management actions (set a policy, enforce,
 * withdraw, upload a certificate, check now): rendering them with the session's CSRF token,
 * and answering their POSTs with the same actions as the JSON API. No JavaScript. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORM_MAX_FIELD 4096 /* a form field other than the certificate */

/* <form> opening with the CSRF token and the domain as hidden fields. */
static void form_open(struct admin_buf *b, const char *action, const char *csrf, const char *domain,
                      const char *cls)
{
    srv__buf_printf(b, "<form method=\"post\" action=\"/forms/%s\" class=\"%s\">", action, cls);
    srv__buf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    srv__buf_html(b, csrf ? csrf : "");
    srv__buf_printf(b, "\">");
    if (domain != NULL) {
        srv__buf_printf(b, "<input type=\"hidden\" name=\"domain\" value=\"");
        srv__buf_html(b, domain);
        srv__buf_printf(b, "\">");
    }
}

void srv__form_policy(struct admin_buf *b, const char *csrf, const char *domain, const char *mode,
                      const char *const *mx, size_t n_mx, long max_age)
{
    static const char *const modes[] = {"testing", "enforce", "none"};
    form_open(b, "policy", csrf, mode ? domain : NULL, "form-policy");
    if (mode == NULL)
        srv__buf_printf(b, "<label>Domain <input name=\"domain\" required "
                           "placeholder=\"example.com\"></label> ");
    srv__buf_printf(b, "<label>Mode <select name=\"mode\">");
    for (size_t i = 0; i < 3; i++)
        srv__buf_printf(b, "<option%s>%s</option>",
                        mode && strcmp(mode, modes[i]) == 0 ? " selected" : "", modes[i]);
    srv__buf_printf(b,
                    "</select></label> <label>max_age <input name=\"max_age\" "
                    "inputmode=\"numeric\" value=\"%ld\"></label><br>",
                    max_age > 0 ? max_age : 604800L);
    srv__buf_printf(b, "<label>mx (one per line)<br><textarea name=\"mx\" rows=\"3\" cols=\"40\">");
    for (size_t i = 0; i < n_mx; i++) {
        srv__buf_html(b, mx[i]);
        srv__buf_printf(b, "\n");
    }
    srv__buf_printf(b, "</textarea></label><br><button>%s</button></form>",
                    mode ? "Set policy" : "Add domain");
}

/* A form of one checkbox and a button. */
static void form_checkbox(struct admin_buf *b, const char *action, const char *csrf,
                          const char *domain, const char *name, const char *label,
                          const char *button)
{
    char cls[40];
    snprintf(cls, sizeof(cls), "form-%s", action);
    form_open(b, action, csrf, domain, cls);
    srv__buf_printf(b,
                    "<label><input type=\"checkbox\" name=\"%s\" value=\"1\"> %s</label> "
                    "<button>%s</button></form>",
                    name, label, button);
}

void srv__form_enforce(struct admin_buf *b, const char *csrf, const char *domain)
{
    form_checkbox(b, "enforce", csrf, domain, "force",
                  "even if <code>policy advise</code> says not ready", "Enforce");
}

void srv__form_withdraw(struct admin_buf *b, const char *csrf, const char *domain)
{
    form_checkbox(b, "withdraw", csrf, domain, "now",
                  "remove at once (skip the RFC 8461 &sect;8.3 withdrawal)", "Withdraw");
}

void srv__form_certificate(struct admin_buf *b, const char *csrf, const char *domain)
{
    form_open(b, "certificate", csrf, domain, "form-certificate");
    srv__buf_printf(b, "<label>Certificate chain and private key (PEM)<br><textarea name=\"pem\" "
                       "rows=\"6\" cols=\"64\" required></textarea></label><br>"
                       "<button>Install certificate</button></form>");
}

void srv__form_check(struct admin_buf *b, const char *csrf, const char *domain)
{
    form_open(b, "check", csrf, domain, "form-check");
    srv__buf_printf(b, "<button>Check now</button></form>");
}

/* ------------------------------------------------------------------ POST */

/* mx lines (or commas, spaces) into a NULL-terminated array; malloc'd, *n entries. */
static char **split_mx(const char *s, size_t *n)
{
    char **v = xcalloc(ADMIN_MAX_MX + 2, sizeof(char *));
    *n = 0;
    while (s && *s) {
        size_t k = strcspn(s, "\r\n\t ,");
        if (k > 0) {
            if (*n > ADMIN_MAX_MX) /* one too many: the policy check says so */
                break;
            v[(*n)++] = xstrndup(s, k);
        }
        s += k;
        s += strspn(s, "\r\n\t ,");
    }
    return v;
}

/* A refused form: an HTML page with the reason (the JSON answer's error, field, reasons). */
static void form_refused(struct admin_response *rs, const char *domain)
{
    json_t *j = rs->body ? json_loadb(rs->body, rs->len, 0, NULL) : NULL;
    const char *err = json_string_value(json_object_get(j, "error"));
    const char *field = json_string_value(json_object_get(j, "field"));
    struct admin_buf b = {0};
    srv__buf_printf(&b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>stsd: not "
                        "changed</title></head><body><h1>Not changed</h1><p class=\"error\">");
    srv__buf_html(&b, err ? err : "the action failed");
    srv__buf_printf(&b, "</p>");
    if (field != NULL && field[0]) {
        srv__buf_printf(&b, "<p>Field: <code>");
        srv__buf_html(&b, field);
        srv__buf_printf(&b, "</code></p>");
    }
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "reasons"), i, r)
    {
        srv__buf_printf(&b, "%s<li>", i == 0 ? "<ul class=\"reasons\">" : "");
        srv__buf_html(&b, json_string_value(json_object_get(r, "message")));
        srv__buf_printf(&b, "</li>");
    }
    if (json_array_size(json_object_get(j, "reasons")) > 0)
        srv__buf_printf(&b, "</ul>");
    srv__buf_printf(&b, "<p><a href=\"%s", domain ? ADMIN_DOMAIN_PAGE : "/");
    if (domain)
        srv__buf_html(&b, domain);
    srv__buf_printf(&b, "\">Back</a></p></body></html>\n");
    json_decref(j);
    free(rs->body);
    rs->body = b.p ? b.p : xstrdup("");
    rs->len = b.len;
    rs->content_type = "text/html; charset=utf-8";
}

static void see_other(struct admin_response *rs, const char *where, const char *domain)
{
    free(rs->body);
    rs->body = xstrdup("see the Location header\n");
    rs->len = strlen(rs->body);
    rs->content_type = "text/plain; charset=utf-8";
    rs->status = 303;
    free(rs->location);
    rs->location = xasprintf("%s%s", where, domain ? domain : "");
}

void srv__admin_form(const struct admin_env *env, const struct admin_request *rq,
                     const char *action, struct admin_response *rs)
{
    static const char form_type[] = "application/x-www-form-urlencoded";
    const char *body = rq->body ? rq->body : "";
    size_t len = rq->body_len;
    if (strncasecmp(rq->content_type ? rq->content_type : "", form_type, sizeof(form_type) - 1) !=
        0) {
        srv__admin_error(rs, 415, "a form is sent as application/x-www-form-urlencoded");
        form_refused(rs, NULL);
        return;
    }
    /* The token proves the form came from a page this session loaded (a cross-site POST
     * carries the cookie, never the token). Nothing is read before it is checked. */
    char *csrf = srv__admin_form_field(body, len, "csrf", ADMIN_CSRF_HEX);
    int ok = rq->session[0] != '\0' && srv__admin_csrf_valid(rq->session, csrf);
    free(csrf);
    if (!ok) {
        srv__admin_error(rs, 403,
                         "the form has no valid CSRF token for this session (it is "
                         "from an old page or another site): reload the page and send "
                         "it again");
        form_refused(rs, NULL);
        return;
    }
    char *domain = srv__admin_form_field(body, len, "domain", 255);
    char dom[254];
    const char *back = domain && domain_normalise(domain, dom, sizeof(dom)) == 0 ? dom : NULL;
    if (domain == NULL) {
        srv__admin_reply_field(rs, "domain", "name a domain");
    } else if (strcmp(action, "policy") == 0) {
        char *mode = srv__admin_form_field(body, len, "mode", 16);
        char *mx = srv__admin_form_field(body, len, "mx", FORM_MAX_FIELD);
        char *age = srv__admin_form_field(body, len, "max_age", 32);
        char *end = NULL;
        long max_age = age && age[0] ? strtol(age, &end, 10) : -1;
        if (end != NULL && *end != '\0')
            max_age = -1; /* not a number: the policy check names the field */
        size_t n = 0;
        char **v = split_mx(mx, &n);
        srv__manage_policy(env, rq, domain, mode ? mode : "", (const char *const *)v, n, max_age,
                           "dashboard", rs);
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        free(mode);
        free(mx);
        free(age);
    } else if (strcmp(action, "enforce") == 0) {
        char *force = srv__admin_form_field(body, len, "force", 8);
        srv__manage_enforce(env, rq, domain, force != NULL, "dashboard", rs);
        free(force);
    } else if (strcmp(action, "withdraw") == 0) {
        char *now = srv__admin_form_field(body, len, "now", 8);
        srv__manage_withdraw(env, rq, domain, now != NULL, "dashboard", rs);
        if (now != NULL && rs->status < 300)
            back = NULL; /* the domain's page is gone */
        free(now);
    } else if (strcmp(action, "certificate") == 0) {
        char *pem = srv__admin_form_field(body, len, "pem", ADMIN_MAX_UPLOAD);
        srv__manage_certificate(env, rq, domain, pem ? pem : "", pem ? strlen(pem) : 0, "dashboard",
                                rs);
        free(pem);
    } else if (strcmp(action, "check") == 0) {
        srv__manage_check(env, rq, domain, 1, rs);
    } else {
        srv__admin_error(rs, 404, "no such form");
    }
    if (rs->status >= 200 && rs->status < 300)
        see_other(rs, back ? ADMIN_DOMAIN_PAGE : "/", back);
    else
        form_refused(rs, back);
    free(domain);
}

void srv__admin_form_page(const struct admin_env *env, const struct admin_request *rq,
                          const char *action, const struct admin_params *p,
                          struct admin_response *rs)
{
    char csrf[ADMIN_CSRF_HEX + 1] = "", dom[254];
    srv__admin_csrf(rq->session, csrf);
    const char *d = srv__admin_param(p, "domain");
    if (d != NULL && domain_normalise(d, dom, sizeof(dom)) != 0) {
        srv__admin_error(rs, 400, "domain: not a domain name");
        return;
    }
    struct admin_buf b = {0};
    srv__buf_printf(&b,
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>stsd: %s"
                    "</title></head><body><h1>",
                    strcmp(action, "policy") == 0 ? "policy" : "action");
    srv__buf_html(&b, d ? dom : "new domain");
    srv__buf_printf(&b, "</h1>");
    struct hosted_policy hp;
    memset(&hp, 0, sizeof(hp));
    int hosted = d != NULL && rq->hosted != NULL && hosted_policy_get(rq->hosted, dom, 0, &hp) == 1;
    if (strcmp(action, "policy") == 0) {
        const char *mode = !d                   ? NULL
                           : hosted && hp.valid ? policy_mode_name(hp.policy.mode)
                                                : "testing";
        srv__form_policy(&b, csrf, d ? dom : NULL, mode,
                         hosted && hp.valid ? (const char *const *)hp.policy.mx : NULL,
                         hosted && hp.valid ? hp.policy.n_mx : 0,
                         hosted && hp.valid ? hp.policy.max_age : 0);
    } else if (d != NULL && strcmp(action, "enforce") == 0) {
        srv__form_enforce(&b, csrf, dom);
    } else if (d != NULL && strcmp(action, "withdraw") == 0) {
        srv__form_withdraw(&b, csrf, dom);
    } else if (d != NULL && strcmp(action, "certificate") == 0) {
        srv__form_certificate(&b, csrf, dom);
    } else if (d != NULL && strcmp(action, "check") == 0) {
        srv__form_check(&b, csrf, dom);
    } else {
        hosted_policy_clear(&hp);
        free(b.p);
        srv__admin_error(rs, 404, "no such form (name a domain with ?domain=)");
        return;
    }
    hosted_policy_clear(&hp);
    srv__buf_printf(&b, "</body></html>\n");
    free(rs->body);
    rs->body = b.p;
    rs->len = b.len;
    rs->status = 200;
    rs->content_type = "text/html; charset=utf-8";
    (void)env;
}
