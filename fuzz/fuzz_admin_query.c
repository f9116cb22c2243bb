/* fuzz_admin_query.c - libFuzzer target over the admin listener's input parsers: the query
 * string parser, the token check on Authorization, Cookie and ?token= values, the session
 * lookup, the login redirect's query without the token, the form body's fields, the session
 * cookie and the CSRF token check. */
#include "server/admin_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * ADMIN_MAX_QUERY)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct admin_params p;
    if (srv__admin_params_parse(s, &p) == 0) {
        /* every parsed name and value is NUL-terminated within its field */
        for (size_t i = 0; i < p.n; i++)
            if (strlen(p.v[i].name) >= sizeof(p.v[i].name) ||
                strlen(p.v[i].value) >= sizeof(p.v[i].value))
                abort();
        (void)srv__admin_param(&p, "since");
    }
    static struct admin_env env;
    static struct admin_sessions sessions;
    if (env.token_len == 0) {
        strcpy(env.token, "0123456789abcdef0123456789abcdef");
        env.token_len = strlen(env.token);
        srv__admin_sessions_init(&sessions, 3600);
        char id[ADMIN_SESSION_HEX + 1];
        srv__admin_session_new(&sessions, 1000, id);
        env.sessions = &sessions;
    }
    if (srv__admin_session_valid(&sessions, (const char *)data, size, 1000))
        abort(); /* 256 random bits are not guessed */
    char rest[ADMIN_MAX_QUERY + 1];
    size_t rl = srv__admin_query_without_token((const char *)data, size, rest, sizeof(rest));
    if (memchr(data, 0, size) == NULL &&
        (rl != strlen(rest) || strstr(rest, "token=") == rest || strstr(rest, "&token=") != NULL))
        abort(); /* no token parameter survives */
    int fq;
    /* The bytes as they arrive (not NUL-terminated at size): header, cookie, query. */
    enum admin_auth a = srv__admin_auth(&env, (const char *)data, size, NULL, 0, NULL, 0, &fq);
    a = srv__admin_auth(&env, NULL, 0, (const char *)data, size, NULL, 0, &fq);
    a = srv__admin_auth(&env, NULL, 0, NULL, 0, (const char *)data, size, &fq);
    if (a == ADMIN_AUTH_OK && !fq)
        abort(); /* a query can only authorise as a query */
    /* The same bytes as a form body (not NUL-terminated at size) and a Cookie header. */
    char *v = srv__admin_form_field((const char *)data, size, "csrf", 256);
    if (v != NULL && strlen(v) > 256)
        abort(); /* the cap holds */
    char sid[ADMIN_SESSION_HEX + 1];
    if (srv__admin_cookie_session((const char *)data, size, sid) == 0 &&
        strlen(sid) != ADMIN_SESSION_HEX)
        abort();
    char csrf[ADMIN_CSRF_HEX + 1];
    if (srv__admin_csrf(sid, csrf) == 0 &&
        (srv__admin_csrf_valid(sid, v) != 0) != (v != NULL && strcmp(v, csrf) == 0))
        abort(); /* only the session's own token passes */
    free(v);
    free(s);
    return 0;
}
