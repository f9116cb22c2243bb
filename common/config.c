/* config.c - reading stsd.conf with libinih into struct stsd_config. */
#include "common/config.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void strv_push(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xstrdup(s);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void config_free(struct stsd_config *cfg)
{
    free(cfg->file);
    strv_free(cfg->listen, cfg->n_listen);
    free(cfg->state_dir);
    free(cfg->access_log);
    free(cfg->user);
    free(cfg->cert_dir);
    strv_free(cfg->report_paths, cfg->n_report_paths);
    free(cfg->rate_exempt);
    free(cfg->admin_listen);
    free(cfg->token_file);
    strv_free(cfg->check_domains, cfg->n_check_domains);
    free(cfg->check_resolver);
    free(cfg->check_ca_file);
    free(cfg->webhook_url);
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

/* ---- the keys: one row each, read and checked by their kind ---- */

/* What a key takes, and so how its value is read and stored. */
enum kind {
    K_INT,      /* a decimal number in [lo, hi]: an int, or a 64-bit field */
    K_SIZE,     /* "10M" (parse_size) in [lo, hi] bytes: uint64_t */
    K_DURATION, /* "6h" (parse_duration) in [lo, hi] seconds, or a word of `words` for 0 */
    K_REAL,     /* a decimal fraction in [lo, hi], optionally followed by `words` ("/s") */
    K_CHOICE,   /* one of `words` ("off|on"): its index, or values[index]: an int */
    K_STR,      /* a string `valid` accepts; `words` ("off") or nothing stores NULL */
    K_LIST,     /* strings separated by commas or blanks, each one `valid`; a repeated key
                 * adds to the list. char ** and its count at off_n */
    K_CIDRS,    /* the same for address ranges (config_parse_cidr): struct cfg_cidr * */
};

struct key {
    const char *name;
    enum kind kind;
    size_t off, width, off_n;
    double lo, hi;
    const char *words;
    const int *values;
    int (*valid)(char *v); /* may rewrite v into its canonical form */
    const char *def;       /* the default, as it would be written in the file; NULL: none.
                            * A list's default is its content when no line names it. */
    const char *fix;       /* what follows "[section] key = 'value' " in an error */
};

#define AT(f) .off = offsetof(struct stsd_config, f), .width = sizeof(((struct stsd_config *)0)->f)
#define LIST_AT(f, n) AT(f), .off_n = offsetof(struct stsd_config, n)

static int valid_hostport(char *v)
{
    char h[256], p[8];
    return config_split_hostport(v, h, sizeof(h), p, sizeof(p)) == 0;
}

static int valid_hostport_or_off(char *v)
{
    return strcmp(v, "off") == 0 || valid_hostport(v);
}

static int valid_abs_path(char *v)
{
    return v[0] == '/';
}

static int valid_user(char *v)
{
    return v[0] != '\0' && strpbrk(v, " :/") == NULL;
}

static int valid_url_path(char *v)
{
    return v[0] == '/' && strchr(v, ' ') == NULL && strstr(v, ".well-known") == NULL;
}

static int valid_http_url(char *v)
{
    return strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0;
}

static int valid_domain(char *v)
{
    return domain_normalise(v, v, strlen(v) + 1) == 0;
}

static const int tls_versions[] = {0x0303, 0x0304};

static const struct key server_keys[] = {
    {"listen", K_LIST, LIST_AT(listen, n_listen), .valid = valid_hostport, .def = "0.0.0.0:443",
     .fix = "is not an address:port; write e.g. 0.0.0.0:443 or [::]:443"},
    {"state_dir", K_STR, AT(state_dir), .valid = valid_abs_path, .def = "/var/lib/stsd",
     .fix = "must be an absolute path, e.g. /var/lib/stsd"},
    {"threads", K_INT, AT(threads), .lo = 0, .hi = 256, .def = "0",
     .fix = "must be 0 (one per core) to 256"},
    {"max_conn_per_address", K_INT, AT(max_conn_per_address), .lo = 1, .hi = 1e6, .def = "256",
     .fix = "must be a number from 1 to 1000000"},
    {"max_connections", K_INT, AT(max_connections), .lo = 0, .hi = 1e7, .def = "0",
     .fix = "must be a number from 1 to 10000000, or 0 (80% of the open-file limit)"},
    {"user", K_STR, AT(user), .valid = valid_user, .fix = "must be a user name, e.g. stsd"},
    {"access_log", K_STR, AT(access_log), .words = "off"},
    {"log_level", K_CHOICE, AT(log_level), .words = "debug|info|warn|error", .def = "info",
     .fix = "must be debug, info, warn or error"},
};

static const struct key tls_keys[] = {
    {"cert_dir", K_STR, AT(cert_dir), .valid = valid_abs_path, .fix = "must be an absolute path"},
    {"min_version", K_CHOICE, AT(min_version), .words = "TLSv1.2|TLSv1.3", .values = tls_versions,
     .def = "TLSv1.2", .fix = "must be TLSv1.2 or TLSv1.3"},
    {"session_tickets", K_CHOICE, AT(session_tickets), .words = "off|on", .def = "on",
     .fix = "must be on or off"},
    {"ticket_lifetime", K_DURATION, AT(ticket_lifetime), .lo = 60, .hi = 7 * 86400, .def = "12h",
     .fix = "must be a duration from 60s to 7d, e.g. 12h"},
};

static const struct key reports_keys[] = {
    {"path", K_LIST, LIST_AT(report_paths, n_report_paths), .valid = valid_url_path,
     .def = "/tlsrpt", .fix = "must be a URL path starting with '/', e.g. /tlsrpt"},
    {"max_body", K_SIZE, AT(max_body), .lo = 1024, .hi = 1024.0 * 1024 * 1024, .def = "10M",
     .fix = "must be a size from 1K to 1G, e.g. 10M"},
    {"max_json", K_SIZE, AT(max_json), .lo = 1024, .hi = 1024.0 * 1024 * 1024, .def = "20M",
     .fix = "must be a size from 1K to 1G, e.g. 20M"},
    {"accept", K_CHOICE, AT(accept_any), .words = "hosted|any", .def = "hosted",
     .fix = "must be 'hosted' or 'any'"},
    {"rate_limit", K_REAL, AT(rate_per_sec), .lo = 0, .hi = 1e6, .words = "/s", .def = "10/s",
     .fix = "must be requests per second, e.g. 10/s (0 = off)"},
    {"rate_exempt", K_CIDRS, LIST_AT(rate_exempt, n_rate_exempt), .def = "127.0.0.0/8, ::1",
     .fix = "is not an address or range; write e.g. 127.0.0.0/8, ::1"},
    {"queue", K_INT, AT(queue), .lo = 1, .hi = 1e7, .def = "8192",
     .fix = "must be a number from 1 to 10000000"},
    {"parse_memory", K_SIZE, AT(parse_memory), .lo = 1024 * 1024, .hi = 64.0 * (1 << 30),
     .def = "256M", .fix = "must be a size from 1M to 64G, e.g. 256M"},
    {"max_values", K_INT, AT(max_values), .lo = 100, .hi = 1e8, .def = "100000",
     .fix = "must be a number from 100 to 100000000"},
    {"max_detail_rows", K_INT, AT(max_detail_rows), .lo = 1, .hi = 1e7, .def = "1000",
     .fix = "must be a number from 1 to 10000000"},
    {"keep", K_DURATION, AT(keep), .lo = 86400, .hi = 1e18, .words = "off|forever", .def = "400d",
     .fix = "must be a duration of at least 1d, e.g. 400d, or off"},
    {"min_free", K_SIZE, AT(min_free), .lo = 0, .hi = 1024.0 * (1 << 30), .def = "1G",
     .fix = "must be a size up to 1T, e.g. 1G (0 = off)"},
};

static const struct key admin_keys[] = {
    {"listen", K_STR, AT(admin_listen), .valid = valid_hostport_or_off, .def = "127.0.0.1:8080",
     .fix = "is not an address:port (or off); write e.g. 127.0.0.1:8080"},
    {"token_file", K_STR, AT(token_file), .valid = valid_abs_path,
     .fix = "must be an absolute path"},
    {"session_ttl", K_DURATION, AT(session_ttl), .lo = 60, .hi = 30 * 86400, .def = "12h",
     .fix = "must be a duration from 60s to 30d, e.g. 12h"},
};

static const struct key checks_keys[] = {
    {"interval", K_DURATION, AT(check_interval), .lo = 60, .hi = 1e18, .words = "off", .def = "6h",
     .fix = "must be a duration of at least 60s, e.g. 6h, or off"},
    {"domains", K_LIST, LIST_AT(check_domains, n_check_domains), .valid = valid_domain,
     .fix = "is not a domain name; write e.g. example.com, example.org"},
    {"resolver", K_STR, AT(check_resolver)},
    {"ca_file", K_STR, AT(check_ca_file)},
    {"smtp_port", K_INT, AT(check_smtp_port), .lo = 1, .hi = 65535, .def = "25",
     .fix = "must be a port from 1 to 65535"},
    {"https_port", K_INT, AT(check_https_port), .lo = 1, .hi = 65535, .def = "443",
     .fix = "must be a port from 1 to 65535"},
    {"allow_private", K_CHOICE, AT(allow_private), .words = "off|on", .def = "off",
     .fix = "must be on or off"},
};

static const struct key alerts_keys[] = {
    {"webhook", K_STR, AT(webhook_url), .valid = valid_http_url,
     .fix = "must be an http:// or https:// URL"},
    {"failure_rate", K_REAL, AT(alert_failure_rate), .lo = 0, .hi = 1, .def = "0.05",
     .fix = "must be a fraction from 0 to 1, e.g. 0.05"},
    {"cert_days", K_INT, AT(alert_cert_days), .lo = 0, .hi = 365, .def = "14",
     .fix = "must be a number of days from 0 to 365"},
    {"digest", K_CHOICE, AT(digest_daily), .words = "off|daily", .def = "off",
     .fix = "must be daily or off"},
};

#define SECTION(s)                                                                                 \
    {                                                                                              \
#s, s##_keys, sizeof(s##_keys) / sizeof(s##_keys[0])                                       \
    }
static const struct section {
    const char *name;
    const struct key *keys;
    size_t n;
} sections[] = {SECTION(server), SECTION(tls),    SECTION(reports),
                SECTION(admin),  SECTION(checks), SECTION(alerts)};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

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

/* One item of a K_LIST or K_CIDRS value. 0, or -1 when it is not valid. */
static int add_item(struct stsd_config *cfg, const struct key *k, char *tok)
{
    void *list = (char *)cfg + k->off;
    size_t *n = (size_t *)(void *)((char *)cfg + k->off_n);
    if (k->kind == K_CIDRS) {
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
static int apply(struct stsd_config *cfg, const struct key *k, const char *value, char **bad)
{
    void *field = (char *)cfg + k->off;
    char *end, *copy = xstrdup(value), *save = NULL, **str = field;
    const char *wrong = value;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    int ok = 1;
    switch (k->kind) {
    case K_INT:
        errno = 0;
        i = strtoll(value, &end, 10);
        ok = *value != '\0' && *end == '\0' && errno == 0 && i >= k->lo && i <= k->hi;
        break;
    case K_SIZE:
        ok = parse_size(value, &u) == 0 && u >= k->lo && u <= k->hi;
        i = (int64_t)u;
        break;
    case K_DURATION:
        if (word_index(k->words, value) < 0)
            ok = parse_duration(value, &i) == 0 && i >= k->lo && i <= k->hi;
        break;
    case K_REAL:
        errno = 0;
        d = strtod(value, &end);
        ok = errno == 0 && end != value && d >= k->lo && d <= k->hi &&
             (*end == '\0' || (k->words != NULL && strcmp(end, k->words) == 0));
        if (ok)
            memcpy(field, &d, sizeof(d));
        break;
    case K_CHOICE:
        i = word_index(k->words, value);
        ok = i >= 0;
        if (ok && k->values != NULL)
            i = k->values[i];
        break;
    case K_STR:
        ok = k->valid == NULL || k->valid(copy);
        if (ok) {
            free(*str);
            *str = copy[0] == '\0' || word_index(k->words, copy) >= 0 ? NULL : xstrdup(copy);
        }
        break;
    case K_LIST:
    case K_CIDRS:
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
    if (k->kind == K_INT || k->kind == K_SIZE || k->kind == K_DURATION || k->kind == K_CHOICE)
        store_int(field, k->width, i);
    return 0;
}

/* Apply the defaults of the scalar keys (lists == 0) or of the lists that are still empty. */
static void apply_defaults(struct stsd_config *cfg, int lists)
{
    for (size_t s = 0; s < N_SECTIONS; s++) {
        for (const struct key *k = sections[s].keys; k < sections[s].keys + sections[s].n; k++) {
            int is_list = k->kind == K_LIST || k->kind == K_CIDRS;
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
    for (size_t s = 0; s < N_SECTIONS; s++) {
        if (strcmp(section, sections[s].name) != 0)
            continue;
        for (size_t j = 0; j < sections[s].n; j++) {
            const struct key *k = &sections[s].keys[j];
            char *bad = NULL;
            if (strcmp(name, k->name) != 0)
                continue;
            if (apply(st->cfg, k, value, &bad) == 0)
                return 1;
            fail(st, "[%s] %s = '%s' %s", section, name, bad, k->fix);
            free(bad);
            return 0;
        }
        for (size_t j = 0; j < sections[s].n && w < sizeof(names); j++)
            w += (size_t)snprintf(names + w, sizeof(names) - w, "%s%s", j ? ", " : "",
                                  sections[s].keys[j].name);
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
