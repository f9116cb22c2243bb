/*
 * config.h - the stsd configuration: an INI file read with libinih.
 * Every key has a default; an empty file is a valid configuration.
 */
#ifndef STSD_CONFIG_H
#define STSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define STSD_DEFAULT_CONFIG "/etc/stsd/stsd.conf"

/* An address range from rate_exempt: family AF_INET or AF_INET6, network bytes. */
struct cfg_cidr {
    int family;
    unsigned char addr[16];
    int prefix;
};

struct stsd_config {
    char *file; /* the file that was read, or NULL for built-in defaults */

    /* [server] */
    char **listen; /* "host:port" strings, "[::]:443" for IPv6 */
    size_t n_listen;
    char *state_dir;
    int threads;              /* 0 = one event loop per core */
    int max_conn_per_address; /* an IPv4 address or an IPv6 /64 */
    int max_connections;      /* all connections; 0 = 80 % of RLIMIT_NOFILE at start */
    char *user;               /* [server] user: drop to it after binding; NULL = stay */
    char *access_log;         /* NULL = off, "-" = stderr, else a file */
    int log_level;            /* enum log_level */

    /* [tls] */
    char *cert_dir;
    int min_version;         /* 0x0303 = TLS 1.2, 0x0304 = TLS 1.3 (OpenSSL's values) */
    int session_tickets;     /* 1: resumption by session tickets (stateless); 0: full handshakes */
    int64_t ticket_lifetime; /* seconds a ticket key encrypts; the previous key still decrypts */

    /* [reports] */
    char **report_paths;
    size_t n_report_paths;
    uint64_t max_body;
    uint64_t max_json;
    int accept_any; /* 0: accept = hosted, 1: accept = any */
    double rate_per_sec;
    struct cfg_cidr *rate_exempt;
    size_t n_rate_exempt;
    size_t queue;
    uint64_t parse_memory;    /* bytes of every report being inflated, parsed or queued at once */
    uint64_t max_values;      /* JSON values per report; more is 413 before any tree is built */
    uint64_t max_detail_rows; /* failure-detail rows stored per report; the rest merged */
    int64_t keep;             /* seconds reports are kept (by end-datetime); 0 = forever */
    uint64_t min_free;        /* bytes free on the database's file system; below: 503 / 75 */

    /* [admin] */
    char *admin_listen; /* "off" disables the admin listener */
    char *token_file;
    int64_t session_ttl; /* seconds a dashboard session cookie lives */

    /* [checks]: scheduled self-checks of the hosted domains by stsd serve */
    int64_t check_interval; /* seconds; 0 = off */
    char **check_domains;   /* empty = every hosted domain */
    size_t n_check_domains;
    char *check_resolver; /* NULL = system resolver */
    char *check_ca_file;  /* NULL = system trust store */
    int check_smtp_port;
    int check_https_port;
    int allow_private; /* 1: self-checks and webhooks may connect to private addresses */

    /* [alerts] */
    char *webhook_url;         /* NULL = no webhook */
    double alert_failure_rate; /* alert when failed/(all) in new reports passes it */
    int alert_cert_days;       /* alert when a served certificate has fewer days left */
    int digest_daily;          /* 1: a daily digest webhook */

    /* [acme] */
    char *acme_directory;      /* the CA's directory URL; NULL = no ACME */
    char *acme_contact;        /* mailto: address for the account; NULL = none */
    int acme_challenge;        /* 0 = http-01, 1 = tls-alpn-01 */
    char *acme_http_listen;    /* the http-01 listener, "host:port" */
    char *acme_ca_file;        /* extra trust for the directory; NULL = system trust store */
    int64_t acme_renew_before; /* seconds before not-after a certificate is renewed */
    int acme_concurrency;      /* orders in flight at once */

    /* [mail]: reports that arrive by e-mail (SPEC §12) */
    int mail_require_dkim;      /* 1: an e-mailed report needs a DKIM pass to be stored */
    char *mail_imap;            /* imaps://USER@HOST[:PORT]/FOLDER; NULL = no IMAP pull */
    char *mail_password_file;   /* the IMAP password, first line of the file */
    char *mail_ca_file;         /* extra trust for the IMAP server; NULL = system store */
    int64_t mail_interval;      /* seconds between IMAP passes in serve */
    char *mail_done_folder;     /* where processed messages are moved */
    char *mail_rejected_folder; /* where unusable messages are moved */
};

/* Fill cfg with the built-in defaults (state_dir /var/lib/stsd, ...). */
void config_defaults(struct stsd_config *cfg);

/*
 * Load the configuration. `path` NULL means the default path, read only if it exists.
 * With an explicit path a missing file is an error. On error returns -1 and writes one
 * line to err naming file, line, key and the fix. Derived paths (cert_dir, token_file)
 * are filled from state_dir when not set.
 */
int config_load(struct stsd_config *cfg, const char *path, char *err, size_t errlen);

/* The configuration as an INI file that config_load reads back to the same values: every key
 * of every section, one line each, sizes in bytes and durations in seconds. malloc'd. */
char *config_format(const struct stsd_config *cfg);

/* Release everything config_load/config_defaults allocated. */
void config_free(struct stsd_config *cfg);

/* Helpers other modules share. */
/* 1 if addr (network bytes of `family`) lies in one of the ranges. */
int config_cidr_match(const struct cfg_cidr *list, size_t n, int family, const void *addr);
/* Parse "127.0.0.0/8" or "::1" (a bare address is a host route). 0 or -1. */
int config_parse_cidr(const char *s, struct cfg_cidr *out);
/* Split "host:port" / "[v6]:port" into host and port. 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz);

#endif
