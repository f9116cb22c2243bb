/* config.c - reading stsd.conf with libinih into struct stsd_config (the keys: config_keys.c),
 * and writing a configuration back as a file. */
#include "common/config_int.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void config_free(struct stsd_config *cfg)
{
    free(cfg->file);
    for (size_t si = 0; si < config__n_sections; si++) {
        for (size_t ki = 0; ki < config__sections[si].n; ki++) {
            const struct config_key *k = &config__sections[si].keys[ki];
            void **field = (void **)((char *)cfg + k->off);
            if (k->kind == CK_LIST)
                strv_free(*field, *(size_t *)((char *)cfg + k->off_n));
            else if (k->kind == CK_STR || k->kind == CK_CIDRS)
                free(*field);
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

int config_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hlen = (size_t)(end - s - 1);
        s++;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL)
            return -1; /* bare IPv6 needs brackets */
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (hlen == 0 || hlen >= hostsz || plen == 0 || plen >= portsz || plen > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1 &&
        strcmp(host, "localhost") != 0)
        return -1;
    return 0;
}

int config_parse_cidr(const char *s, struct cfg_cidr *out)
{
    char buf[64];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    int prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        errno = 0;
        long v = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno || v < 0 || v > 128)
            return -1;
        prefix = (int)v;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (prefix > 32)
            return -1;
        out->prefix = prefix < 0 ? 32 : prefix;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix = prefix < 0 ? 128 : prefix;
    } else {
        return -1;
    }
    return 0;
}

int config_cidr_match(const struct cfg_cidr *list, size_t n, int family, const void *addr)
{
    const unsigned char *a = addr;
    for (size_t i = 0; i < n; i++) {
        if (list[i].family != family)
            continue;
        int bits = list[i].prefix, k = 0;
        for (; bits >= 8; bits -= 8, k++)
            if (a[k] != list[i].addr[k])
                break;
        if (bits >= 8)
            continue;
        if (bits == 0)
            return 1;
        unsigned char mask = (unsigned char)(0xff << (8 - bits));
        if ((a[k] & mask) == (list[i].addr[k] & mask))
            return 1;
    }
    return 0;
}

/* The index of word in a '|'-separated list, or -1. */
static int word_index(const char *words, const char *word)
{
    size_t n = strlen(word);
    for (int i = 0; words != NULL && *words != '\0'; i++) {
        size_t len = strcspn(words, "|");
        if (len == n && strncmp(words, word, n) == 0)
            return i;
        words += len + (words[len] == '|');
    }
    return -1;
}

/* Store v into an integer field of `width` bytes (int, or a 64-bit integer). */
static void store_int(void *field, size_t width, int64_t v)
{
    if (width == sizeof(int)) {
        int x = (int)v;
        memcpy(field, &x, sizeof(x));
    } else {
        memcpy(field, &v, sizeof(v));
    }
}

/* One item of a CK_LIST or CK_CIDRS value. 0, or -1 when it is not valid. */
static int add_item(struct stsd_config *cfg, const struct config_key *k, char *tok)
{
    void *list = (char *)cfg + k->off;
    size_t *n = (size_t *)(void *)((char *)cfg + k->off_n);
    if (k->kind == CK_CIDRS) {
        struct cfg_cidr c, **v = list;
        if (config_parse_cidr(tok, &c) != 0)
            return -1;
        *v = xrealloc(*v, (*n + 1) * sizeof(c));
        (*v)[(*n)++] = c;
        return 0;
    }
    if (k->valid != NULL && !k->valid(tok))
        return -1;
    strv_push(list, n, tok);
    return 0;
}

/* Read one value of key k into cfg. 0, or -1 with the item that is wrong in *bad (malloc'd). */
static int apply(struct stsd_config *cfg, const struct config_key *k, const char *value, char **bad)
{
    void *field = (char *)cfg + k->off;
    char *end, *copy = xstrdup(value), *save = NULL, **str = field;
    const char *wrong = value;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    int ok = 1;
    switch (k->kind) {
    case CK_INT:
        errno = 0;
        i = strtoll(value, &end, 10);
        ok = *value != '\0' && *end == '\0' && errno == 0 && i >= k->lo && i <= k->hi;
        break;
    case CK_SIZE:
        ok = parse_size(value, &u) == 0 && u >= k->lo && u <= k->hi;
        i = (int64_t)u;
        break;
    case CK_DURATION:
        if (word_index(k->words, value) < 0)
            ok = parse_duration(value, &i) == 0 && i >= k->lo && i <= k->hi;
        break;
    case CK_REAL:
        errno = 0;
        d = strtod(value, &end);
        ok = errno == 0 && end != value && d >= k->lo && d <= k->hi &&
             (*end == '\0' || (k->words != NULL && strcmp(end, k->words) == 0));
        if (ok)
            memcpy(field, &d, sizeof(d));
        break;
    case CK_CHOICE:
        i = word_index(k->words, value);
        ok = i >= 0;
        if (ok && k->values != NULL)
            i = k->values[i];
        break;
    case CK_STR: /* nothing, or a word of `words`, unsets a key that has no default */
        if ((copy[0] == '\0' || word_index(k->words, copy) >= 0) && k->def == NULL) {
            free(*str);
            *str = NULL;
        } else if ((ok = k->valid == NULL || k->valid(copy))) {
            free(*str);
            *str = xstrdup(copy);
        }
        break;
    case CK_LIST:
    case CK_CIDRS:
        for (char *tok = strtok_r(copy, ", \t", &save); tok && ok;
             tok = strtok_r(NULL, ", \t", &save)) {
            if (add_item(cfg, k, tok) != 0) {
                ok = 0;
                wrong = tok; /* add_item changes tok only when it is valid */
            }
        }
        break;
    }
    if (!ok)
        *bad = xstrdup(wrong);
    free(copy);
    if (!ok)
        return -1;
    if (k->kind == CK_INT || k->kind == CK_SIZE || k->kind == CK_DURATION || k->kind == CK_CHOICE)
        store_int(field, k->width, i);
    return 0;
}

/* Apply the defaults of the scalar keys (lists == 0) or of the lists that are still empty. */
static void apply_defaults(struct stsd_config *cfg, int lists)
{
    for (size_t s = 0; s < config__n_sections; s++) {
        for (const struct config_key *k = config__sections[s].keys;
             k < config__sections[s].keys + config__sections[s].n; k++) {
            int is_list = k->kind == CK_LIST || k->kind == CK_CIDRS;
            char *bad = NULL;
            if (k->def == NULL || is_list != lists ||
                (is_list && *(size_t *)(void *)((char *)cfg + k->off_n) != 0))
                continue;
            if (apply(cfg, k, k->def, &bad) != 0)
                abort(); /* a default that its own key refuses */
        }
    }
}

void config_defaults(struct stsd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    apply_defaults(cfg, 0);
}

struct load_state {
    struct stsd_config *cfg;
    char msg[512]; /* the first error: "[s] key = 'x' reason; fix" */
    int have_msg;
};

static int fail(struct load_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct load_state *st, const char *fmt, ...)
{
    if (!st->have_msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
        va_end(ap);
        st->have_msg = 1;
    }
    return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct load_state *st = user;
    char names[300];
    size_t w = 0;
    if (section[0] == '\0')
        return fail(st,
                    "key '%s' outside a section; put it under [server], [tls], [reports], "
                    "[admin], [checks] or [alerts]",
                    name);
    for (size_t s = 0; s < config__n_sections; s++) {
        if (strcmp(section, config__sections[s].name) != 0)
            continue;
        for (size_t j = 0; j < config__sections[s].n; j++) {
            const struct config_key *k = &config__sections[s].keys[j];
            char *bad = NULL;
            if (strcmp(name, k->name) != 0)
                continue;
            if (apply(st->cfg, k, value, &bad) == 0)
                return 1;
            fail(st, "[%s] %s = '%s' %s", section, name, bad, k->fix);
            free(bad);
            return 0;
        }
        for (size_t j = 0; j < config__sections[s].n && w < sizeof(names); j++)
            w += (size_t)snprintf(names + w, sizeof(names) - w, "%s%s", j ? ", " : "",
                                  config__sections[s].keys[j].name);
        return fail(st, "unknown key '%s' in [%s]; known keys: %s", name, section, names);
    }
    return fail(st,
                "unknown section [%s]; known sections: server, tls, reports, admin, checks, "
                "alerts",
                section);
}

int config_load(struct stsd_config *cfg, const char *path, char *err, size_t errlen)
{
    config_defaults(cfg);
    const char *file = path ? path : STSD_DEFAULT_CONFIG;
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        if (path == NULL && errno == ENOENT)
            goto derive;
        snprintf(err, errlen, "%s: cannot read the configuration: %s; %s", file, strerror(errno),
                 path ? "check the path given with -c" : "fix its permissions");
        return -1;
    }
    struct load_state st = {.cfg = cfg};
    int line = ini_parse_file(f, on_entry, &st);
    fclose(f);
    if (line != 0) {
        if (line < 0)
            snprintf(err, errlen, "%s: cannot read the configuration", file);
        else if (st.have_msg)
            snprintf(err, errlen, "%s:%d: %s", file, line, st.msg);
        else
            snprintf(err, errlen,
                     "%s:%d: syntax error; lines must be [section], key = value, or a ; comment",
                     file, line);
        return -1;
    }
    cfg->file = xstrdup(file);
derive:
    apply_defaults(cfg, 1); /* a list holds only what the lines say, or else its default */
    if (cfg->cert_dir == NULL)
        cfg->cert_dir = xasprintf("%s/certs", cfg->state_dir);
    if (cfg->token_file == NULL)
        cfg->token_file = xasprintf("%s/admin.token", cfg->state_dir);
    return 0;
}

/* Key k's value in cfg as one line of the file. */
static void format_key(FILE *f, const struct stsd_config *cfg, const struct config_key *k)
{
    const char *field = (const char *)cfg + k->off, *w = k->words;
    const void *list = NULL; /* CK_STR, CK_LIST, CK_CIDRS */
    size_t n = k->off_n ? *(const size_t *)(const void *)((const char *)cfg + k->off_n) : 0;
    int64_t i = 0;
    int x;
    double d;
    char buf[INET6_ADDRSTRLEN];
    if (k->kind == CK_STR || k->kind == CK_LIST || k->kind == CK_CIDRS) {
        memcpy(&list, field, sizeof(list));
    } else if (k->width == sizeof(int)) {
        memcpy(&x, field, sizeof(x));
        i = x;
    } else if (k->kind != CK_REAL) {
        memcpy(&i, field, sizeof(i));
    }
    /* "key=value" with no spaces and a list one item a line: never longer than the line it
     * was read from, so that a value near libinih's line cap still loads back. */
    fprintf(f, "%s=", k->name);
    switch (k->kind) {
    case CK_INT:
    case CK_SIZE:
    case CK_DURATION:
        if (i == 0 && w != NULL)
            fprintf(f, "%.*s", (int)strcspn(w, "|"), w);
        else
            fprintf(f, "%lld", (long long)i);
        break;
    case CK_REAL:
        memcpy(&d, field, sizeof(d));
        fprintf(f, "%.17g", d);
        break;
    case CK_CHOICE:
        for (int j = 0; w != NULL && (k->values ? k->values[j] : j) != i; j++)
            w = strchr(w, '|') ? strchr(w, '|') + 1 : NULL;
        fprintf(f, "%.*s", w ? (int)strcspn(w, "|") : 0, w ? w : "");
        break;
    case CK_STR:
        fputs(list ? (const char *)list : "", f);
        break;
    case CK_LIST:
        for (size_t j = 0; j < n; j++) {
            if (j > 0)
                fprintf(f, "\n%s=", k->name);
            fputs(((char *const *)list)[j], f);
        }
        break;
    case CK_CIDRS:
        for (const struct cfg_cidr *c = list; c < (const struct cfg_cidr *)list + n; c++) {
            if (c > (const struct cfg_cidr *)list)
                fprintf(f, "\n%s=", k->name);
            fprintf(f, "%s/%d", inet_ntop(c->family, c->addr, buf, sizeof(buf)), c->prefix);
        }
        break;
    }
    fputc('\n', f);
}

char *config_format(const struct stsd_config *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort(); /* out of memory, as in xmalloc */
    for (size_t s = 0; s < config__n_sections; s++) {
        fprintf(f, "%s[%s]\n", s ? "\n" : "", config__sections[s].name);
        for (size_t j = 0; j < config__sections[s].n; j++)
            format_key(f, cfg, &config__sections[s].keys[j]);
    }
    fclose(f);
    return out;
}
