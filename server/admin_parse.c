/* admin_parse.c - the admin listener's input parsers: query strings (percent-decoding, caps)
 * and the bearer token check (RFC 6750 §2.1, constant time); pure, so unit-tested and fuzzed. */
#include "server/admin_int.h"
#include "common/common.h"

#include <stdlib.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

/* Percent-decode [s, e) into out (NUL-terminated); '+' is a space (form encoding). */
static int decode(const char *s, const char *e, char *out, size_t outsz)
{
    size_t o = 0;
    while (s < e) {
        int c = (unsigned char)*s;
        if (c == '%') {
            if (e - s < 3 || hex_digit(s[1], 0) < 0 || hex_digit(s[2], 0) < 0)
                return -1;
            c = hex_digit(s[1], 0) * 16 + hex_digit(s[2], 0);
            s += 3;
        } else {
            if (c == '+')
                c = ' ';
            s++;
        }
        if (c == 0 || o + 1 >= outsz)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int srv__admin_params_parse(const char *query, struct admin_params *out)
{
    out->n = 0;
    if (query == NULL)
        return 0;
    if (strlen(query) > ADMIN_MAX_QUERY)
        return -1;
    const char *s = query;
    while (*s) {
        const char *amp = strchr(s, '&');
        const char *end = amp ? amp : s + strlen(s);
        if (end > s) {
            if (out->n >= ADMIN_MAX_PARAMS)
                return -1;
            const char *eq = memchr(s, '=', (size_t)(end - s));
            const char *ne = eq ? eq : end;
            if (decode(s, ne, out->v[out->n].name, sizeof(out->v[0].name)) != 0)
                return -1;
            if (decode(eq ? eq + 1 : end, end, out->v[out->n].value, sizeof(out->v[0].value)) != 0)
                return -1;
            out->n++;
        }
        s = amp ? amp + 1 : end;
    }
    return 0;
}

const char *srv__admin_param(const struct admin_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return p->v[i].value;
    return NULL;
}

/* Constant-time comparison: the time depends on the length of the stored token only. */
static int token_equal(const struct admin_env *env, const char *t, size_t len)
{
    char cand[ADMIN_TOKEN_MAX + 1];
    memset(cand, 0, sizeof(cand));
    memcpy(cand, t, len < sizeof(cand) ? len : sizeof(cand));
    int same = CRYPTO_memcmp(cand, env->token, env->token_len) == 0;
    return same && len == env->token_len;
}

/* Find `name=` in a `sep`-separated list (cookies: "; ", query: "&"); the value's extent. */
static const char *find_kv(const char *s, size_t len, const char *name, char sep, size_t *vlen)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == sep))
            i++;
        size_t j = i;
        while (j < len && s[j] != sep)
            j++;
        if (j - i > nl && memcmp(s + i, name, nl) == 0 && s[i + nl] == '=') {
            *vlen = j - i - nl - 1;
            return s + i + nl + 1;
        }
        i = j;
    }
    return NULL;
}

enum admin_auth srv__admin_auth(const struct admin_env *env, const char *authorization,
                                size_t authlen, const char *cookie, size_t cookielen,
                                const char *query, size_t querylen, int *from_query)
{
    *from_query = 0;
    if (authorization != NULL) {
        /* RFC 6750 §2.1: "Bearer" (case-insensitive scheme) SP b64token. */
        if (authlen > 7 && strncasecmp(authorization, "Bearer ", 7) == 0) {
            const char *t = authorization + 7;
            size_t l = authlen - 7;
            while (l > 0 && *t == ' ')
                t++, l--;
            while (l > 0 && t[l - 1] == ' ')
                l--;
            return token_equal(env, t, l) ? ADMIN_AUTH_OK : ADMIN_AUTH_INVALID;
        }
        return ADMIN_AUTH_INVALID;
    }
    size_t vl;
    const char *v;
    /* A token in the URL wins over a cookie: it is how a browser with an expired session
     * logs in again. */
    if (query != NULL && (v = find_kv(query, querylen, "token", '&', &vl)) != NULL) {
        if (!token_equal(env, v, vl))
            return ADMIN_AUTH_INVALID;
        *from_query = 1;
        return ADMIN_AUTH_OK;
    }
    if (cookie != NULL && (v = find_kv(cookie, cookielen, ADMIN_COOKIE, ';', &vl)) != NULL)
        return srv__admin_session_valid(env->sessions, v, vl, srv__admin_session_now())
                   ? ADMIN_AUTH_OK
                   : ADMIN_AUTH_SESSION;
    return ADMIN_AUTH_MISSING;
}

int srv__admin_method(const char *m, size_t len)
{
    static const char *const names[] = {"GET", "HEAD", "PUT", "POST", "DELETE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (len == strlen(names[i]) && memcmp(m, names[i], len) == 0)
            return (int)i;
    return -1;
}

size_t srv__admin_body_cap(const char *path, size_t len)
{
    static const char upload[] = "/certificate";
    size_t ul = sizeof(upload) - 1;
    return len >= ul && memcmp(path + len - ul, upload, ul) == 0 ? ADMIN_MAX_UPLOAD
                                                                 : ADMIN_MAX_JSON;
}

int srv__admin_cookie_session(const char *cookie, size_t len, char out[ADMIN_SESSION_HEX + 1])
{
    size_t vl;
    const char *v = cookie ? find_kv(cookie, len, ADMIN_COOKIE, ';', &vl) : NULL;
    out[0] = '\0';
    if (v == NULL || vl != ADMIN_SESSION_HEX)
        return -1;
    for (size_t i = 0; i < vl; i++)
        if (hex_digit((unsigned char)v[i], 0) < 0)
            return -1; /* a session id is hex digits, nothing else (no NUL byte) */
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 0;
}

char *srv__admin_form_field(const char *body, size_t len, const char *name, size_t cap)
{
    size_t vl;
    const char *v = body ? find_kv(body, len, name, '&', &vl) : NULL;
    if (v == NULL || vl > 3 * cap)
        return NULL;
    char *out = xmalloc(vl + 1);
    if (decode(v, v + vl, out, vl + 1) != 0 || strlen(out) > cap) {
        free(out);
        return NULL;
    }
    return out;
}
