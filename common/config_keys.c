/* config_keys.c - the keys of stsd.conf: one row each with its kind, field, range, default and
 * the fix an error names; config.c reads and writes them. */
#include "common/config_int.h"
#include "common/common.h"

#include <string.h>

#define AT(f) .off = offsetof(struct stsd_config, f), .width = sizeof(((struct stsd_config *)0)->f)
#define LIST_AT(f, n) AT(f), .off_n = offsetof(struct stsd_config, n)
#define PORT(name, f, def_)                                                                        \
    {                                                                                              \
        name, CK_INT, AT(f), .lo = 1, .hi = 65535, .def = def_,                                    \
                             .fix = "must be a port from 1 to 65535"                               \
    }

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

/* The resolver the checker, the self-checks and DKIM key lookups ask. */
static int valid_resolver(char *v)
{
    char fwd[128];
    return resolver_parse(v, fwd, sizeof(fwd)) == 0;
}

static const int tls_versions[] = {0x0303, 0x0304};

static const struct config_key server_keys[] = {
    {"listen", CK_LIST, LIST_AT(listen, n_listen), .valid = valid_hostport, .def = "0.0.0.0:443",
     .fix = "is not an address:port; write e.g. 0.0.0.0:443 or [::]:443"},
    {"state_dir", CK_STR, AT(state_dir), .valid = valid_abs_path, .def = "/var/lib/stsd",
     .fix = "must be an absolute path, e.g. /var/lib/stsd"},
    {"threads", CK_INT, AT(threads), .lo = 0, .hi = 256, .def = "0",
     .fix = "must be 0 (one per core) to 256"},
    {"max_conn_per_address", CK_INT, AT(max_conn_per_address), .lo = 1, .hi = 1e6, .def = "256",
     .fix = "must be a number from 1 to 1000000"},
    {"max_connections", CK_INT, AT(max_connections), .lo = 0, .hi = 1e7, .def = "0",
     .fix = "must be a number from 1 to 10000000, or 0 (80% of the open-file limit)"},
    {"user", CK_STR, AT(user), .valid = valid_user, .fix = "must be a user name, e.g. stsd"},
    {"access_log", CK_STR, AT(access_log), .words = "off"},
    {"log_level", CK_CHOICE, AT(log_level), .words = "debug|info|warn|error", .def = "info",
     .fix = "must be debug, info, warn or error"},
};

static const struct config_key tls_keys[] = {
    {"cert_dir", CK_STR, AT(cert_dir), .valid = valid_abs_path, .fix = "must be an absolute path"},
    {"min_version", CK_CHOICE, AT(min_version), .words = "TLSv1.2|TLSv1.3", .values = tls_versions,
     .def = "TLSv1.2", .fix = "must be TLSv1.2 or TLSv1.3"},
    {"session_tickets", CK_CHOICE, AT(session_tickets), .words = "off|on", .def = "on",
     .fix = "must be on or off"},
    {"ticket_lifetime", CK_DURATION, AT(ticket_lifetime), .lo = 60, .hi = 7 * 86400, .def = "12h",
     .fix = "must be a duration from 60s to 7d, e.g. 12h"},
};

static const struct config_key reports_keys[] = {
    {"path", CK_LIST, LIST_AT(report_paths, n_report_paths), .valid = valid_url_path,
     .def = "/tlsrpt", .fix = "must be a URL path starting with '/', e.g. /tlsrpt"},
    {"max_body", CK_SIZE, AT(max_body), .lo = 1024, .hi = 1024.0 * 1024 * 1024, .def = "10M",
     .fix = "must be a size from 1K to 1G, e.g. 10M"},
    {"max_json", CK_SIZE, AT(max_json), .lo = 1024, .hi = 1024.0 * 1024 * 1024, .def = "20M",
     .fix = "must be a size from 1K to 1G, e.g. 20M"},
    {"accept", CK_CHOICE, AT(accept_any), .words = "hosted|any", .def = "hosted",
     .fix = "must be 'hosted' or 'any'"},
    {"rate_limit", CK_REAL, AT(rate_per_sec), .lo = 0, .hi = 1e6, .words = "/s", .def = "10/s",
     .fix = "must be requests per second, e.g. 10/s (0 = off)"},
    {"rate_exempt", CK_CIDRS, LIST_AT(rate_exempt, n_rate_exempt), .def = "127.0.0.0/8, ::1",
     .fix = "is not an address or range; write e.g. 127.0.0.0/8, ::1"},
    {"queue", CK_INT, AT(queue), .lo = 1, .hi = 1e7, .def = "8192",
     .fix = "must be a number from 1 to 10000000"},
    {"parse_memory", CK_SIZE, AT(parse_memory), .lo = 1024 * 1024, .hi = 64.0 * (1 << 30),
     .def = "256M", .fix = "must be a size from 1M to 64G, e.g. 256M"},
    {"max_values", CK_INT, AT(max_values), .lo = 100, .hi = 1e8, .def = "100000",
     .fix = "must be a number from 100 to 100000000"},
    {"max_detail_rows", CK_INT, AT(max_detail_rows), .lo = 1, .hi = 1e7, .def = "1000",
     .fix = "must be a number from 1 to 10000000"},
    {"keep", CK_DURATION, AT(keep), .lo = 86400, .hi = 1e18, .words = "off|forever", .def = "400d",
     .fix = "must be a duration of at least 1d, e.g. 400d, or off"},
    {"min_free", CK_SIZE, AT(min_free), .lo = 0, .hi = 1024.0 * (1 << 30), .def = "1G",
     .fix = "must be a size up to 1T, e.g. 1G (0 = off)"},
};

static const struct config_key admin_keys[] = {
    {"listen", CK_STR, AT(admin_listen), .valid = valid_hostport_or_off, .def = "127.0.0.1:8080",
     .fix = "is not an address:port (or off); write e.g. 127.0.0.1:8080"},
    {"token_file", CK_STR, AT(token_file), .valid = valid_abs_path,
     .fix = "must be an absolute path"},
    {"session_ttl", CK_DURATION, AT(session_ttl), .lo = 60, .hi = 30 * 86400, .def = "12h",
     .fix = "must be a duration from 60s to 30d, e.g. 12h"},
};

static const struct config_key checks_keys[] = {
    {"interval", CK_DURATION, AT(check_interval), .lo = 60, .hi = 1e18, .words = "off", .def = "6h",
     .fix = "must be a duration of at least 60s, e.g. 6h, or off"},
    {"domains", CK_LIST, LIST_AT(check_domains, n_check_domains), .valid = valid_domain,
     .fix = "is not a domain name; write e.g. example.com, example.org"},
    {"resolver", CK_STR, AT(check_resolver), .valid = valid_resolver,
     .fix = "must be IP, IP@PORT or IP:PORT, e.g. 127.0.0.1@53"},
    {"ca_file", CK_STR, AT(check_ca_file)},
    PORT("smtp_port", check_smtp_port, "25"),
    PORT("https_port", check_https_port, "443"),
    {"allow_private", CK_CHOICE, AT(allow_private), .words = "off|on", .def = "off",
     .fix = "must be on or off"},
};

static const struct config_key alerts_keys[] = {
    {"webhook", CK_STR, AT(webhook_url), .valid = valid_http_url,
     .fix = "must be an http:// or https:// URL"},
    {"failure_rate", CK_REAL, AT(alert_failure_rate), .lo = 0, .hi = 1, .def = "0.05",
     .fix = "must be a fraction from 0 to 1, e.g. 0.05"},
    {"cert_days", CK_INT, AT(alert_cert_days), .lo = 0, .hi = 365, .def = "14",
     .fix = "must be a number of days from 0 to 365"},
    {"digest", CK_CHOICE, AT(digest_daily), .words = "off|daily", .def = "off",
     .fix = "must be daily or off"},
};

static int valid_acme_contact(char *v)
{
    return strncmp(v, "mailto:", 7) == 0 && strchr(v + 7, '@') != NULL && strpbrk(v, " ,") == NULL;
}

static const struct config_key acme_keys[] = {
    {"directory", CK_STR, AT(acme_directory), .valid = valid_http_url,
     .fix = "must be the CA's directory URL, e.g. "
            "https://acme-staging-v02.api.letsencrypt.org/directory"},
    {"contact", CK_STR, AT(acme_contact), .valid = valid_acme_contact,
     .fix = "must be one mailto: address, e.g. mailto:hostmaster@example.com"},
    {"challenge", CK_CHOICE, AT(acme_challenge), .words = "http-01|tls-alpn-01", .def = "http-01",
     .fix = "must be http-01 or tls-alpn-01"},
    {"http_listen", CK_STR, AT(acme_http_listen), .valid = valid_hostport, .def = "0.0.0.0:80",
     .fix = "is not an address:port; write e.g. 0.0.0.0:80"},
    {"ca_file", CK_STR, AT(acme_ca_file), .valid = valid_abs_path,
     .fix = "must be an absolute path"},
    {"renew_before", CK_DURATION, AT(acme_renew_before), .lo = 86400, .hi = 1e18, .def = "30d",
     .fix = "must be a duration of at least 1d, e.g. 30d"},
    {"concurrency", CK_INT, AT(acme_concurrency), .lo = 1, .hi = 64, .def = "4",
     .fix = "must be a number from 1 to 64"},
};

static int valid_imap_url(char *v)
{
    return (strncmp(v, "imaps://", 8) == 0 || strncmp(v, "imap://", 7) == 0) &&
           strchr(v, '@') != NULL && strpbrk(v, " \t") == NULL;
}

static int valid_folder(char *v)
{
    return v[0] != '\0' && strpbrk(v, "\"\r\n*%") == NULL && strlen(v) < 200;
}

static const struct config_key mail_keys[] = {
    {"require_dkim", CK_CHOICE, AT(mail_require_dkim), .words = "off|on", .def = "off",
     .fix = "must be on or off"},
    {"imap", CK_STR, AT(mail_imap), .valid = valid_imap_url,
     .fix = "must be an IMAP URL with the user, e.g. imaps://tlsrpt@imap.example.com/INBOX"},
    {"password_file", CK_STR, AT(mail_password_file), .valid = valid_abs_path,
     .fix = "must be an absolute path"},
    {"ca_file", CK_STR, AT(mail_ca_file), .valid = valid_abs_path,
     .fix = "must be an absolute path"},
    {"interval", CK_DURATION, AT(mail_interval), .lo = 10, .hi = 86400 * 7, .def = "5m",
     .fix = "must be a duration from 10s to 7d, e.g. 5m"},
    {"done_folder", CK_STR, AT(mail_done_folder), .valid = valid_folder, .def = "TLSRPT/done",
     .fix = "must be a folder name without quotes, * or %, e.g. TLSRPT/done"},
    {"rejected_folder", CK_STR, AT(mail_rejected_folder), .valid = valid_folder,
     .def = "TLSRPT/rejected",
     .fix = "must be a folder name without quotes, * or %, e.g. TLSRPT/rejected"},
};

#define KEYS(s) s##_keys, sizeof(s##_keys) / sizeof(s##_keys[0])
const struct config_section config__sections[] = {
    {"server", KEYS(server)}, {"tls", KEYS(tls)},       {"reports", KEYS(reports)},
    {"admin", KEYS(admin)},   {"checks", KEYS(checks)}, {"alerts", KEYS(alerts)},
    {"acme", KEYS(acme)},     {"mail", KEYS(mail)},
};
const size_t config__n_sections = sizeof(config__sections) / sizeof(config__sections[0]);
