/* parse.c - the parsers of what an ACME CA answers (RFC 8555 section 7.1): the directory, order
 * and authorization objects, and problem documents. Pure functions over bytes: the fuzzer's
 * target. */
#include "acme/acme_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

void acme__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The JSON object in text, or NULL with the reason in err. Duplicate keys are refused: two
 * different "status" members must not be read as either. */
static json_t *load_object(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        char safe[160];
        text_escape(safe, sizeof(safe), je.text, 0);
        acme__set_err(err, errlen, "not JSON: %s", safe);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        acme__set_err(err, errlen, "not a JSON object");
        return NULL;
    }
    return j;
}

/* The https URL v (named `name` in messages) into out[ACME__URL_MAX]. 0 or -1 (absent: -1
 * too). */
static int url_value(json_t *v, const char *name, char *out, char *err, size_t errlen)
{
    const char *s = json_string_value(v);
    size_t n = s != NULL ? json_string_length(v) : 0;
    if (s == NULL) {
        acme__set_err(err, errlen, "no %s URL", name);
        return -1;
    }
    /* a URL goes into requests and logs: printable ASCII, no NUL, not too long */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
            acme__set_err(err, errlen, "the %s URL holds a space or a control character", name);
            return -1;
        }
    if (n >= ACME__URL_MAX || strncmp(s, "https://", 8) != 0 || n == 8) {
        acme__set_err(err, errlen, "the %s URL is not an https URL of at most %d bytes", name,
                      ACME__URL_MAX - 1);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* The https URL member `name` of obj. */
static int get_url(json_t *obj, const char *name, char *out, char *err, size_t errlen)
{
    return url_value(json_object_get(obj, name), name, out, err, errlen);
}

static const char *const state_names[] = {
    [ACME__S_UNKNOWN] = "unknown", [ACME__S_PENDING] = "pending",
    [ACME__S_READY] = "ready",     [ACME__S_PROCESSING] = "processing",
    [ACME__S_VALID] = "valid",     [ACME__S_INVALID] = "invalid",
    [ACME__S_EXPIRED] = "expired", [ACME__S_DEACTIVATED] = "deactivated",
    [ACME__S_REVOKED] = "revoked",
};

const char *acme__state_name(enum acme__state s)
{
    if ((size_t)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[s];
}

/* The "status" member; -1 when it is missing or not one of RFC 8555's words. */
static int get_state(json_t *obj, enum acme__state *out, char *err, size_t errlen)
{
    const char *s = json_string_value(json_object_get(obj, "status"));
    for (size_t i = 1; s != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum acme__state)i;
            return 0;
        }
    acme__set_err(err, errlen, s == NULL ? "no status" : "an unknown status");
    return -1;
}

/* "type: detail" of an embedded problem object (an order's or a challenge's "error") into out,
 * its type alone into type[typelen] (when type is not NULL). */
static void embedded_problem(json_t *obj, char *out, size_t outlen, char *type_out, size_t typelen)
{
    out[0] = '\0';
    json_t *p = json_object_get(obj, "error");
    if (!json_is_object(p))
        return;
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type_out != NULL && type != NULL)
        text_escape(type_out, typelen, type, 0);
    const char *detail = json_string_value(json_object_get(p, "detail"));
    char *raw = xasprintf("%s: %s", type != NULL ? type : "problem",
                          detail != NULL ? detail : "(no detail)");
    text_escape(out, outlen, raw, 0);
    free(raw);
}

/* What one parser reads from the object j into out; `arg` is its extra argument. 0 or -1. */
typedef int (*fill_fn)(json_t *j, void *out, const void *arg, char *err, size_t errlen);

/* The frame every parser shares: out zeroed, the text loaded as an object, filled, released. */
static int parse_object(const char *text, size_t len, void *out, size_t outsize, fill_fn fill,
                        const void *arg, char *err, size_t errlen)
{
    memset(out, 0, outsize);
    json_t *j = load_object(text, len, err, errlen);
    if (j == NULL)
        return -1;
    int rc = fill(j, out, arg, err, errlen);
    json_decref(j);
    return rc;
}

static int fill_directory(json_t *j, void *out, const void *arg, char *err, size_t errlen)
{
    struct acme__directory *d = out;
    if (get_url(j, "newNonce", d->new_nonce, err, errlen) != 0 ||
        get_url(j, "newAccount", d->new_account, err, errlen) != 0 ||
        get_url(j, "newOrder", d->new_order, err, errlen) != 0)
        return -1;
    return 0;
}

int acme__parse_directory(const char *text, size_t len, struct acme__directory *d, char *err,
                          size_t errlen)
{
    return parse_object(text, len, d, sizeof(*d), fill_directory, NULL, err, errlen);
}

static int fill_order(json_t *j, void *out, const void *arg, char *err, size_t errlen)
{
    struct acme__order *o = out;
    json_t *az = json_object_get(j, "authorizations");
    if (get_state(j, &o->status, err, errlen) != 0)
        return -1;
    if (!json_is_array(az) || json_array_size(az) == 0) {
        acme__set_err(err, errlen, "no authorizations");
        return -1;
    }
    if (json_array_size(az) > ACME__AUTHZ_MAX) {
        acme__set_err(err, errlen, "%zu authorizations (at most %d)", json_array_size(az),
                      ACME__AUTHZ_MAX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(az); i++)
        if (url_value(json_array_get(az, i), "authorization", o->authz[i], err, errlen) != 0)
            return -1;
    o->n_authz = json_array_size(az);
    if (get_url(j, "finalize", o->finalize, err, errlen) != 0)
        return -1;
    if (json_object_get(j, "certificate") != NULL &&
        get_url(j, "certificate", o->certificate, err, errlen) != 0)
        return -1;
    if (o->status == ACME__S_VALID && o->certificate[0] == '\0') {
        acme__set_err(err, errlen, "a valid order without a certificate URL");
        return -1;
    }
    embedded_problem(j, o->error, sizeof(o->error), NULL, 0);
    return 0;
}

int acme__parse_order(const char *text, size_t len, struct acme__order *o, char *err, size_t errlen)
{
    return parse_object(text, len, o, sizeof(*o), fill_order, NULL, err, errlen);
}

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* RFC 8555 section 8.3: a token holds only base64url characters; at least 128 bits. */
static int token_ok(const char *t, size_t n, size_t cap)
{
    return n >= 22 && n < cap && strspn(t, b64url_chars) == n;
}

/* The challenge of `type` in a into the ch_ fields. 0, or -1 when there is none or it is
 * malformed. */
static int pick_challenge(json_t *chs, const char *type, struct acme__authz *a, char *err,
                          size_t errlen)
{
    size_t i;
    json_t *ch;
    json_array_foreach(chs, i, ch)
    {
        const char *t = json_string_value(json_object_get(ch, "type"));
        if (t == NULL || strcmp(t, type) != 0)
            continue;
        if (get_state(ch, &a->ch_status, err, errlen) != 0 ||
            get_url(ch, "url", a->ch_url, err, errlen) != 0)
            return -1;
        json_t *tok = json_object_get(ch, "token");
        const char *ts = json_string_value(tok);
        if (ts == NULL || !token_ok(ts, json_string_length(tok), sizeof(a->ch_token))) {
            acme__set_err(err, errlen, "the %s challenge's token is missing or not base64url",
                          type);
            return -1;
        }
        memcpy(a->ch_token, ts, json_string_length(tok) + 1);
        embedded_problem(ch, a->ch_error, sizeof(a->ch_error), a->ch_type, sizeof(a->ch_type));
        return 0;
    }
    acme__set_err(err, errlen, "no %s challenge offered", type);
    return -1;
}

static int fill_authz(json_t *j, void *out, const void *arg, char *err, size_t errlen)
{
    struct acme__authz *a = out;
    json_t *id = json_object_get(j, "identifier");
    json_t *idv = json_object_get(id, "value");
    const char *idtype = json_string_value(json_object_get(id, "type"));
    if (get_state(j, &a->status, err, errlen) != 0)
        return -1;
    if (idtype == NULL || strcmp(idtype, "dns") != 0 || !json_is_string(idv) ||
        json_string_length(idv) >= sizeof(a->identifier) || !domain_valid(json_string_value(idv))) {
        acme__set_err(err, errlen, "no dns identifier");
        return -1;
    }
    memcpy(a->identifier, json_string_value(idv), json_string_length(idv) + 1);
    json_t *chs = json_object_get(j, "challenges");
    if (!json_is_array(chs)) {
        acme__set_err(err, errlen, "no challenges");
        return -1;
    }
    /* a valid authorization needs no challenge of ours */
    if (pick_challenge(chs, arg, a, err, errlen) != 0 && a->status != ACME__S_VALID)
        return -1;
    return 0;
}

int acme__parse_authz(const char *text, size_t len, const char *type, struct acme__authz *a,
                      char *err, size_t errlen)
{
    return parse_object(text, len, a, sizeof(*a), fill_authz, type, err, errlen);
}

int acme__parse_problem(const char *text, size_t len, char *type, size_t typelen, char *detail,
                        size_t detaillen)
{
    type[0] = '\0';
    detail[0] = '\0';
    json_t *j = load_object(text, len, NULL, 0);
    if (j == NULL)
        return -1;
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t == NULL) {
        json_decref(j);
        return -1;
    }
    text_escape(type, typelen, t, 0);
    const char *d = json_string_value(json_object_get(j, "detail"));
    json_t *sub = json_array_get(json_object_get(j, "subproblems"), 0);
    const char *sd = json_string_value(json_object_get(sub, "detail"));
    char *raw = sd != NULL ? xasprintf("%s (%s)", d != NULL ? d : "", sd)
                           : xstrdup(d != NULL ? d : "(no detail)");
    text_escape(detail, detaillen, raw, 0);
    free(raw);
    json_decref(j);
    return 0;
}

/* 1 when the link-params in [p, end) hold rel="... `rel` ..." (a space-separated list). */
static int params_have_rel(const char *p, const char *end, const char *rel)
{
    size_t n = strlen(rel);
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi == NULL)
            return 0;
        p = semi + 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 4 || strncasecmp(p, "rel=", 4) != 0)
            continue;
        p += 4;
        int quoted = p < end && *p == '"';
        const char *v = p + quoted, *vend = v;
        while (vend < end && (quoted ? *vend != '"' : *vend != ';'))
            vend++;
        for (const char *t = v; t < vend;) {
            const char *sp = t;
            while (sp < vend && *sp != ' ')
                sp++;
            if ((size_t)(sp - t) == n && strncasecmp(t, rel, n) == 0)
                return 1;
            t = sp + 1;
        }
        return 0; /* only the first rel counts (RFC 8288 section 3.3) */
    }
    return 0;
}

int acme__link_target(const char *value, const char *rel, char *out, size_t outlen)
{
    out[0] = '\0';
    /* link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), joined by "," */
    const char *p = value;
    while (p != NULL && *p != '\0') {
        const char *lt = strchr(p, '<');
        const char *gt = lt != NULL ? strchr(lt + 1, '>') : NULL;
        if (gt == NULL)
            return -1;
        const char *next = strchr(gt, ',');
        const char *end = next != NULL ? next : gt + strlen(gt);
        size_t ulen = (size_t)(gt - lt - 1);
        if (params_have_rel(gt + 1, end, rel) && ulen < outlen) {
            memcpy(out, lt + 1, ulen);
            out[ulen] = '\0';
            return 0;
        }
        p = next != NULL ? next + 1 : NULL;
    }
    return -1;
}

int acme__nonce_ok(const char *nonce)
{
    size_t n = strlen(nonce);
    return n > 0 && n < ACME__NONCE_MAX && strspn(nonce, b64url_chars) == n;
}
