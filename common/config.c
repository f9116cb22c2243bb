/* config.c - reading stsd.conf with libinih into struct stsd_config. */
#include "common/config.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
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

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? xstrdup(s) : NULL;
}

void config_defaults(struct stsd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->state_dir = xstrdup("/var/lib/stsd");
    cfg->threads = 0;
    cfg->max_conn_per_address = 256;
    cfg->log_level = LOG_INFO;
    cfg->min_version = 0x0303;
    cfg->session_tickets = 1;
    cfg->ticket_lifetime = 12 * 3600;
    cfg->max_body = 10ull * 1024 * 1024;
    cfg->max_json = 20ull * 1024 * 1024;
    cfg->rate_per_sec = 10;
    cfg->queue = 8192;
    cfg->parse_memory = 256ull * 1024 * 1024;
    cfg->max_values = 100000;
    cfg->max_detail_rows = 1000;
    cfg->keep = 400ll * 86400;
    cfg->min_free = 1024ull * 1024 * 1024;
    cfg->session_ttl = 12 * 3600;
    cfg->admin_listen = xstrdup("127.0.0.1:8080");
    cfg->check_interval = 6 * 3600;
    cfg->check_smtp_port = 25;
    cfg->check_https_port = 443;
    cfg->alert_failure_rate = 0.05;
    cfg->alert_cert_days = 14;
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

struct load_state {
    struct stsd_config *cfg;
    char msg[512]; /* first error: "key 'x' in [s]: reason; fix" */
    int have_msg;
    int seen_exempt;
    int seen_listen;
    int seen_paths;
    int seen_domains;
};

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (!st->have_msg) {                                                                       \
            snprintf(st->msg, sizeof(st->msg), __VA_ARGS__);                                       \
            st->have_msg = 1;                                                                      \
        }                                                                                          \
        return 0;                                                                                  \
    } while (0)

static int to_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int on_server(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    if (strcmp(name, "listen") == 0) {
        char h[256], p[8];
        if (config_split_hostport(value, h, sizeof(h), p, sizeof(p)) != 0)
            FAIL("[server] listen = '%s' is not an address:port; write e.g. 0.0.0.0:443 or "
                 "[::]:443",
                 value);
        if (!st->seen_listen) {
            strv_free(cfg->listen, cfg->n_listen);
            cfg->listen = NULL;
            cfg->n_listen = 0;
            st->seen_listen = 1;
        }
        strv_push(&cfg->listen, &cfg->n_listen, value);
    } else if (strcmp(name, "state_dir") == 0) {
        if (value[0] != '/')
            FAIL("[server] state_dir = '%s' must be an absolute path, e.g. /var/lib/stsd", value);
        set_str(&cfg->state_dir, value);
    } else if (strcmp(name, "threads") == 0) {
        long x;
        if (to_int(value, 0, 256, &x))
            FAIL("[server] threads = '%s' must be 0 (one per core) to 256", value);
        cfg->threads = (int)x;
    } else if (strcmp(name, "max_conn_per_address") == 0) {
        long x;
        if (to_int(value, 1, 1000000, &x))
            FAIL("[server] max_conn_per_address = '%s' must be a number from 1 to 1000000",
                 value);
        cfg->max_conn_per_address = (int)x;
    } else if (strcmp(name, "max_connections") == 0) {
        long x;
        if (to_int(value, 0, 10000000, &x))
            FAIL("[server] max_connections = '%s' must be a number from 1 to 10000000, or 0 "
                 "(80%% of the open-file limit)",
                 value);
        cfg->max_connections = (int)x;
    } else if (strcmp(name, "user") == 0) {
        if (value[0] == '\0' || strchr(value, ' ') || strchr(value, ':') || strchr(value, '/'))
            FAIL("[server] user = '%s' must be a user name, e.g. stsd", value);
        set_str(&cfg->user, value);
    } else if (strcmp(name, "access_log") == 0) {
        set_str(&cfg->access_log, strcmp(value, "off") == 0 || value[0] == '\0' ? NULL : value);
    } else if (strcmp(name, "log_level") == 0) {
        static const char *lv[] = {"debug", "info", "warn", "error"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(value, lv[i]) == 0)
                found = i;
        if (found < 0)
            FAIL("[server] log_level = '%s' must be debug, info, warn or error", value);
        cfg->log_level = found;
    } else {
        FAIL("unknown key '%s' in [server]; known keys: listen, state_dir, threads, "
             "max_conn_per_address, max_connections, user, access_log, log_level",
             name);
    }
    return 1;
}

static int on_tls(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    if (strcmp(name, "cert_dir") == 0) {
        if (value[0] != '/')
            FAIL("[tls] cert_dir = '%s' must be an absolute path", value);
        set_str(&cfg->cert_dir, value);
    } else if (strcmp(name, "min_version") == 0) {
        if (strcmp(value, "TLSv1.2") == 0)
            cfg->min_version = 0x0303;
        else if (strcmp(value, "TLSv1.3") == 0)
            cfg->min_version = 0x0304;
        else
            FAIL("[tls] min_version = '%s' must be TLSv1.2 or TLSv1.3", value);
    } else if (strcmp(name, "session_tickets") == 0) {
        if (strcmp(value, "on") == 0)
            cfg->session_tickets = 1;
        else if (strcmp(value, "off") == 0)
            cfg->session_tickets = 0;
        else
            FAIL("[tls] session_tickets = '%s' must be on or off", value);
    } else if (strcmp(name, "ticket_lifetime") == 0) {
        int64_t s;
        if (parse_duration(value, &s) != 0 || s < 60 || s > 7 * 86400)
            FAIL("[tls] ticket_lifetime = '%s' must be a duration from 60s to 7d, e.g. 12h",
                 value);
        cfg->ticket_lifetime = s;
    } else {
        FAIL("unknown key '%s' in [tls]; known keys: cert_dir, min_version, session_tickets, "
             "ticket_lifetime",
             name);
    }
    return 1;
}

static int parse_list(const char *value, void (*each)(struct load_state *, const char *, int *),
                      struct load_state *st)
{
    char *copy = xstrdup(value), *save = NULL;
    int ok = 1;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && ok; tok = strtok_r(NULL, ", \t", &save))
        each(st, tok, &ok);
    free(copy);
    return ok;
}

static void add_exempt(struct load_state *st, const char *tok, int *ok)
{
    struct stsd_config *cfg = st->cfg;
    struct cfg_cidr c;
    if (config_parse_cidr(tok, &c) != 0) {
        if (!st->have_msg) {
            snprintf(st->msg, sizeof(st->msg),
                     "[reports] rate_exempt: '%s' is not an address or range; write e.g. "
                     "127.0.0.0/8, ::1",
                     tok);
            st->have_msg = 1;
        }
        *ok = 0;
        return;
    }
    cfg->rate_exempt = xrealloc(cfg->rate_exempt, (cfg->n_rate_exempt + 1) * sizeof(c));
    cfg->rate_exempt[cfg->n_rate_exempt++] = c;
}

static int on_reports(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    uint64_t sz;
    if (strcmp(name, "path") == 0) {
        if (value[0] != '/' || strchr(value, ' ') || strstr(value, ".well-known"))
            FAIL("[reports] path = '%s' must be a URL path starting with '/', e.g. /tlsrpt",
                 value);
        if (!st->seen_paths) {
            strv_free(cfg->report_paths, cfg->n_report_paths);
            cfg->report_paths = NULL;
            cfg->n_report_paths = 0;
            st->seen_paths = 1;
        }
        strv_push(&cfg->report_paths, &cfg->n_report_paths, value);
    } else if (strcmp(name, "max_body") == 0 || strcmp(name, "max_json") == 0) {
        if (parse_size(value, &sz) != 0 || sz < 1024 || sz > 1024ull * 1024 * 1024)
            FAIL("[reports] %s = '%s' must be a size from 1K to 1G, e.g. 10M", name, value);
        if (name[4] == 'b')
            cfg->max_body = sz;
        else
            cfg->max_json = sz;
    } else if (strcmp(name, "accept") == 0) {
        if (strcmp(value, "hosted") == 0)
            cfg->accept_any = 0;
        else if (strcmp(value, "any") == 0)
            cfg->accept_any = 1;
        else
            FAIL("[reports] accept = '%s' must be 'hosted' or 'any'", value);
    } else if (strcmp(name, "rate_limit") == 0) {
        char *end;
        errno = 0;
        double r = strtod(value, &end);
        if (errno || end == value || r < 0 || r > 1e6 || (strcmp(end, "/s") != 0 && *end))
            FAIL("[reports] rate_limit = '%s' must be requests per second, e.g. 10/s (0 = off)",
                 value);
        cfg->rate_per_sec = r;
    } else if (strcmp(name, "rate_exempt") == 0) {
        if (!st->seen_exempt) {
            free(cfg->rate_exempt);
            cfg->rate_exempt = NULL;
            cfg->n_rate_exempt = 0;
            st->seen_exempt = 1;
        }
        if (!parse_list(value, add_exempt, st))
            return 0;
    } else if (strcmp(name, "queue") == 0) {
        long x;
        if (to_int(value, 1, 10000000, &x))
            FAIL("[reports] queue = '%s' must be a number from 1 to 10000000", value);
        cfg->queue = (size_t)x;
    } else if (strcmp(name, "parse_memory") == 0) {
        if (parse_size(value, &sz) != 0 || sz < 1024 * 1024 || sz > 64ull * 1024 * 1024 * 1024)
            FAIL("[reports] parse_memory = '%s' must be a size from 1M to 64G, e.g. 256M", value);
        cfg->parse_memory = sz;
    } else if (strcmp(name, "max_values") == 0) {
        long x;
        if (to_int(value, 100, 100000000, &x))
            FAIL("[reports] max_values = '%s' must be a number from 100 to 100000000", value);
        cfg->max_values = (uint64_t)x;
    } else if (strcmp(name, "max_detail_rows") == 0) {
        long x;
        if (to_int(value, 1, 10000000, &x))
            FAIL("[reports] max_detail_rows = '%s' must be a number from 1 to 10000000", value);
        cfg->max_detail_rows = (uint64_t)x;
    } else if (strcmp(name, "keep") == 0) {
        int64_t s;
        if (strcmp(value, "off") == 0 || strcmp(value, "forever") == 0)
            s = 0;
        else if (parse_duration(value, &s) != 0 || s < 86400)
            FAIL("[reports] keep = '%s' must be a duration of at least 1d, e.g. 400d, or off",
                 value);
        cfg->keep = s;
    } else if (strcmp(name, "min_free") == 0) {
        if (parse_size(value, &sz) != 0 || sz > 1024ull * 1024 * 1024 * 1024)
            FAIL("[reports] min_free = '%s' must be a size up to 1T, e.g. 1G (0 = off)", value);
        cfg->min_free = sz;
    } else {
        FAIL("unknown key '%s' in [reports]; known keys: path, max_body, max_json, accept, "
             "rate_limit, rate_exempt, queue, parse_memory, max_values, max_detail_rows, keep, "
             "min_free",
             name);
    }
    return 1;
}

static int on_admin(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    if (strcmp(name, "listen") == 0) {
        char h[256], p[8];
        if (strcmp(value, "off") != 0 &&
            config_split_hostport(value, h, sizeof(h), p, sizeof(p)) != 0)
            FAIL("[admin] listen = '%s' is not an address:port (or off); write e.g. "
                 "127.0.0.1:8080",
                 value);
        set_str(&cfg->admin_listen, value);
    } else if (strcmp(name, "token_file") == 0) {
        if (value[0] != '/')
            FAIL("[admin] token_file = '%s' must be an absolute path", value);
        set_str(&cfg->token_file, value);
    } else if (strcmp(name, "session_ttl") == 0) {
        int64_t s;
        if (parse_duration(value, &s) != 0 || s < 60 || s > 30 * 86400)
            FAIL("[admin] session_ttl = '%s' must be a duration from 60s to 30d, e.g. 12h",
                 value);
        cfg->session_ttl = s;
    } else {
        FAIL("unknown key '%s' in [admin]; known keys: listen, token_file, session_ttl", name);
    }
    return 1;
}

static void add_domain(struct load_state *st, const char *tok, int *ok)
{
    strv_push(&st->cfg->check_domains, &st->cfg->n_check_domains, tok);
}

static int on_checks(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    long x;
    if (strcmp(name, "interval") == 0) {
        int64_t s;
        if (strcmp(value, "off") == 0)
            s = 0;
        else if (parse_duration(value, &s) != 0 || s < 60)
            FAIL("[checks] interval = '%s' must be a duration of at least 60s, e.g. 6h, or off",
                 value);
        cfg->check_interval = s;
    } else if (strcmp(name, "domains") == 0) {
        if (!st->seen_domains) {
            strv_free(cfg->check_domains, cfg->n_check_domains);
            cfg->check_domains = NULL;
            cfg->n_check_domains = 0;
            st->seen_domains = 1;
        }
        parse_list(value, add_domain, st);
    } else if (strcmp(name, "resolver") == 0) {
        set_str(&cfg->check_resolver, value);
    } else if (strcmp(name, "ca_file") == 0) {
        set_str(&cfg->check_ca_file, value);
    } else if (strcmp(name, "smtp_port") == 0 || strcmp(name, "https_port") == 0) {
        if (to_int(value, 1, 65535, &x))
            FAIL("[checks] %s = '%s' must be a port from 1 to 65535", name, value);
        if (name[0] == 's')
            cfg->check_smtp_port = (int)x;
        else
            cfg->check_https_port = (int)x;
    } else if (strcmp(name, "allow_private") == 0) {
        if (strcmp(value, "on") == 0)
            cfg->allow_private = 1;
        else if (strcmp(value, "off") == 0)
            cfg->allow_private = 0;
        else
            FAIL("[checks] allow_private = '%s' must be on or off", value);
    } else {
        FAIL("unknown key '%s' in [checks]; known keys: interval, domains, resolver, ca_file, "
             "smtp_port, https_port, allow_private",
             name);
    }
    return 1;
}

static int on_alerts(struct load_state *st, const char *name, const char *value)
{
    struct stsd_config *cfg = st->cfg;
    long x;
    if (strcmp(name, "webhook") == 0) {
        if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
            FAIL("[alerts] webhook = '%s' must be an http:// or https:// URL", value);
        set_str(&cfg->webhook_url, value);
    } else if (strcmp(name, "failure_rate") == 0) {
        char *end;
        errno = 0;
        double r = strtod(value, &end);
        if (errno || end == value || *end || r < 0 || r > 1)
            FAIL("[alerts] failure_rate = '%s' must be a fraction from 0 to 1, e.g. 0.05",
                 value);
        cfg->alert_failure_rate = r;
    } else if (strcmp(name, "cert_days") == 0) {
        if (to_int(value, 0, 365, &x))
            FAIL("[alerts] cert_days = '%s' must be a number of days from 0 to 365", value);
        cfg->alert_cert_days = (int)x;
    } else if (strcmp(name, "digest") == 0) {
        if (strcmp(value, "daily") == 0)
            cfg->digest_daily = 1;
        else if (strcmp(value, "off") == 0)
            cfg->digest_daily = 0;
        else
            FAIL("[alerts] digest = '%s' must be daily or off", value);
    } else {
        FAIL("unknown key '%s' in [alerts]; known keys: webhook, failure_rate, cert_days, "
             "digest",
             name);
    }
    return 1;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct load_state *st = user;
    if (strcmp(section, "server") == 0)
        return on_server(st, name, value);
    if (strcmp(section, "tls") == 0)
        return on_tls(st, name, value);
    if (strcmp(section, "reports") == 0)
        return on_reports(st, name, value);
    if (strcmp(section, "admin") == 0)
        return on_admin(st, name, value);
    if (strcmp(section, "checks") == 0)
        return on_checks(st, name, value);
    if (strcmp(section, "alerts") == 0)
        return on_alerts(st, name, value);
    if (section[0] == '\0')
        FAIL("key '%s' outside a section; put it under [server], [tls], [reports], [admin], "
             "[checks] or [alerts]",
             name);
    FAIL("unknown section [%s]; known sections: server, tls, reports, admin, checks, alerts",
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
        snprintf(err, errlen, "%s: cannot read the configuration: %s; %s", file,
                 strerror(errno),
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
    if (cfg->n_listen == 0)
        strv_push(&cfg->listen, &cfg->n_listen, "0.0.0.0:443");
    if (cfg->n_report_paths == 0)
        strv_push(&cfg->report_paths, &cfg->n_report_paths, "/tlsrpt");
    if (cfg->rate_exempt == NULL) {
        struct cfg_cidr c;
        config_parse_cidr("127.0.0.0/8", &c);
        cfg->rate_exempt = xmalloc(2 * sizeof(c));
        cfg->rate_exempt[0] = c;
        config_parse_cidr("::1", &c);
        cfg->rate_exempt[1] = c;
        cfg->n_rate_exempt = 2;
    }
    if (cfg->cert_dir == NULL)
        cfg->cert_dir = xasprintf("%s/certs", cfg->state_dir);
    if (cfg->token_file == NULL)
        cfg->token_file = xasprintf("%s/admin.token", cfg->state_dir);
    return 0;
}
