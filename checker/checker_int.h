/* checker_int.h - declarations shared by the files of checker/ only: the facts a check
 * collects, the findings the rules derive from them, and the pieces of the poll loop. */
#ifndef STSD_CHECKER_INT_H
#define STSD_CHECKER_INT_H

#include "checker/checker.h"
#include "policy/policy.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

/* Caps on everything that comes from the network. */
#define CHECK_MAX_MX 64           /* MX hosts probed; beyond: mx.too-many */
#define CHECK_MAX_MX_LISTED 1024  /* MX records kept for the JSON */
#define CHECK_MAX_ADDRS 16        /* A + AAAA addresses probed per host */
#define CHECK_MAX_TXT 16          /* TXT records kept per name */
#define CHECK_MAX_TXT_LEN 4096    /* joined bytes kept per TXT record (longer: syntax) */
#define CHECK_MAX_CONNS 256       /* SMTP probes in flight at once */
#define CHECK_SMTP_LINE_MAX 2048  /* bytes of one SMTP reply line (RFC 5321 says 512) */
#define CHECK_SMTP_MAX_LINES 128  /* lines of one multi-line reply */
#define CHECK_SLOW_FETCH_MS 4000  /* sts.fetch.slow */
#define CHECK_SLOW_BANNER_MS 5000 /* mx.slow */
#define CHECK_EXPIRING_DAYS 14    /* mx.cert.expiring */

/* The outcome of one DNS query. */
enum dns_status { DNS_PENDING = 0, DNS_OK, DNS_NODATA, DNS_NXDOMAIN, DNS_FAIL };

struct dns_answer {
    enum dns_status status;
    int rcode;
    int secure, bogus;
    char why[160]; /* error text: rcode name, why_bogus, timeout */
};

/* The STARTTLS probe's steps (OpenSMTPD mta_session.c style). */
enum smtp_step {
    SMTP_CONNECT = 0,
    SMTP_BANNER,
    SMTP_EHLO,
    SMTP_STARTTLS,
    SMTP_HANDSHAKE,
    SMTP_VERIFY,
    SMTP_QUIT,
    SMTP_DONE
};

struct check_addr {
    char ip[INET6_ADDRSTRLEN];
    int family;
    int probed;      /* the probe finished */
    int reachable;   /* TCP connected and an SMTP banner started */
    int starttls;    /* STARTTLS offered and accepted with 220 */
    int handshake;   /* TLS handshake completed */
    int verified;    /* chain valid (trusted, in its validity period) */
    int name_match;  /* a SAN dNSName matches the MX host (RFC 8461 §4.2) */
    int tls_version; /* OpenSSL's value, e.g. 0x0304; 0 unknown */
    char tls_version_name[16];
    char cipher[64];
    int err_expired, err_not_yet_valid, err_untrusted;
    char verify_error[160]; /* first chain error, "" if none */
    int have_cert;
    int64_t not_before, not_after;
    enum smtp_step failed_step; /* SMTP_DONE when it did not fail */
    int timed_out;
    int private_skipped; /* not probed: a private address and opts->no_private */
    char error[256];     /* what went wrong, "" if nothing */
    int64_t ms, banner_ms;
};

struct check_mx {
    char *host; /* printable (escaped when the DNS name had odd bytes) */
    int preference;
    int host_valid; /* a resolvable host name */
    struct dns_answer a, aaaa;
    struct check_addr addrs[CHECK_MAX_ADDRS];
    size_t n_addrs;
    size_t n_addrs_dropped;
};

struct check_fetch {
    int attempted, done;
    char url[512];
    long status; /* 0 when no HTTP answer */
    char content_type[128];
    char *body; /* malloc'd, NUL-terminated, at most POLICY_MAX_BODY - 1 bytes */
    size_t len;
    int too_big, timed_out, tls_error, connect_error;
    int private_skipped; /* one address's fetch not made: private and opts->no_private */
    char redirect[512];
    char error[256];
    int64_t ms;
    /* With several addresses: the same fetch pinned to each one (every address of
     * the policy host is probed); index i is host_addrs[i]. */
    struct check_fetch *per_addr;
    size_t n_per_addr;
};

#define CHECK_MAX_RUA 4 /* https: rua URIs whose host is checked */
struct check_rua {
    char *host;
    int port;
    struct dns_answer a, aaaa;
    char addrs[CHECK_MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n_addrs;
    unsigned char addr_private[CHECK_MAX_ADDRS]; /* skipped: private and opts->no_private */
    size_t n_private;
    int tls_attempted, tls_done, tls_ok;
    char tls_error[256];
};

struct check_domain {
    char *name; /* lowercased, no trailing dot */
    int valid;
    char input_error[160];

    struct dns_answer mx_ans, sts_ans, rpt_ans, host_a, host_aaaa;
    int null_mx;
    struct check_mx *mx; /* sorted by preference, at most CHECK_MAX_MX */
    size_t n_mx;
    size_t n_mx_total; /* MX records in the answer */
    struct {
        int preference;
        char *host;
    } * mx_listed;
    size_t n_mx_listed;
    char *sts_txt[CHECK_MAX_TXT];
    size_t n_sts_txt, n_sts_txt_total;
    size_t sts_txt_longest; /* raw joined length of the longest record */
    char *rpt_txt[CHECK_MAX_TXT];
    size_t n_rpt_txt, n_rpt_txt_total;
    size_t rpt_txt_longest;
    char host_addrs[CHECK_MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n_host_addrs;
    unsigned char host_private[CHECK_MAX_ADDRS]; /* not fetched: private, opts->no_private */
    size_t n_host_private;
    /* The https: rua hosts (rpt.rua.https): do they resolve, and is their certificate valid? */
    struct check_rua rua_hosts[CHECK_MAX_RUA];
    size_t n_rua_hosts;

    struct check_fetch fetch;
    /* Filled by check__rules from fetch.body: */
    int policy_parsed; /* a 200 body was run through policy_parse */
    int policy_ok;     /* ... and had no error */
    struct policy policy;
    struct policy_diag pdiag;

    int hosted_given; /* opts->hosted_facts was called for the domain */
    struct check_hosted_facts hosted;

    struct check_finding *findings;
    size_t n_findings;
};

struct ub_ctx;
struct check__probe;
struct dns_query;
struct fetch_ctx;

/* One check_run: every domain, and the resolver, TLS and curl contexts of the poll loop. */
struct check__run {
    const struct check_opts *opts;
    int smtp_port, https_port;
    int64_t step_ms; /* --timeout in ms */
    char ehlo[256];
    struct check_domain *domains;
    size_t n_domains;

    struct ub_ctx *ub;
    struct dns_query **queries; /* every query started (freed at the end) */
    size_t n_queries, cap_queries, n_dns_pending;
    int dns_answered; /* some query got NOERROR or NXDOMAIN */
    int64_t dns_deadline;

    SSL_CTX *ssl;
    struct check__probe **probes;
    size_t n_probes, cap_probes, n_started, n_active;
    /* (MX host, address) -> its probe: an MX shared by many domains is probed once a run. */
    struct check__probe **ptab;
    size_t ptab_cap, ptab_n;

    CURLM *multi;
    size_t n_fetch_running;
    struct fetch_ctx *fetches; /* running transfers (fetch.c) */
};

/* dns.c */
/* Start the first queries of a domain (MX, both TXT, A/AAAA of mta-sts.D). */
void check__dns_start(struct check__run *run, struct check_domain *d);
/* Number of queries still outstanding. */
size_t check__dns_pending(const struct check__run *run);
/* Cancel the queries older than the step timeout (all of them with `all`), marking them
 * DNS_FAIL. */
void check__dns_expire(struct check__run *run, int64_t now, int all);
/* 1 when the resolver (unbound's "IP@PORT", or those of /etc/resolv.conf with NULL) sends
 * back any DNS datagram within ms: tells "no resolver answered" from "answered with an
 * error". */
int check__dns_ping(const char *fwd, int64_t ms);
/* Free the query records (after the context is deleted). */
void check__dns_free(struct check__run *run);
/* Parse the rdata of an MX record: preference and the host name (printable, lowercased,
 * no trailing dot). Returns 0, or -1 when malformed. *valid is 0 when the name is not a
 * host name (domain_valid) or is the root (null MX has host "" and valid 0). */
int check__mx_rdata_parse(const unsigned char *rd, size_t len, int *pref, char *host, size_t hostsz,
                          int *valid);
/* Join the character-strings of one TXT rdata without separators (RFC 7208 §3.3 style, as
 * RFC 8461 §3.1 expects). At most cap-1 bytes are written (non-printable bytes escaped as
 * \DDD); returns the full joined length, or -1 when malformed. */
long check__txt_rdata_join(const unsigned char *rd, size_t len, char *out, size_t cap);

/* smtp.c */
struct smtp_reply {
    int code; /* the reply code, 0 until the first line */
    int n_lines;
    int starttls;   /* an EHLO line "STARTTLS" was seen */
    char text[200]; /* the first line's text, printable */
};
/*
 * Feed bytes of an SMTP reply (RFC 5321 §4.2: "DDD-text" continuation lines, "DDD text"
 * last line). Consumes whole lines only; *used says how many bytes. Returns 1 when the reply
 * is complete, 0 when more is needed, -1 when malformed (bad code, mixed codes, a line longer
 * than CHECK_SMTP_LINE_MAX when `final` or the buffer is full, too many lines).
 */
int check__smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len, size_t *used,
                           int buffer_full);
/* The probe's TLS context: TLS 1.0 and up at security level 0, so that an old server is
 * reported as mx.tls.version rather than a handshake failure; trust from ca_file or the
 * system store. NULL with err on failure. */
SSL_CTX *check__tls_ctx_new(const char *ca_file, char *err, size_t errlen);
/* Queue a probe of one address (the probe writes its results into addr); at most
 * CHECK_MAX_CONNS run at once. */
void check__probe_add(struct check__run *run, struct check_mx *mx, struct check_addr *addr);
/* The poll events each active probe waits for: fills fds (up to cap), returns the count. */
size_t check__probe_fds(struct check__run *run, struct curl_waitfd *fds, size_t cap);
/* Handle readiness reported for fds[0..n) and expire steps past their deadline. */
void check__probe_events(struct check__run *run, const struct curl_waitfd *fds, size_t n,
                         int64_t now);
/* Earliest step deadline of the active probes (INT64_MAX when none). */
int64_t check__probe_next_deadline(const struct check__run *run);
/* Free every probe (closing what is still open). */
void check__probe_free_all(struct check__run *run);

/* fetch.c */
/* Start fetching the domain's policy through the run's curl multi handle. */
void check__fetch_start(struct check__run *run, struct check_domain *d);
/* Start a TLS handshake (no request) with an https: rua host, verified like the fetch. */
void check__rua_tls_start(struct check__run *run, struct check_domain *d, size_t idx);
/* Drop the transfers still running (only past the run's hard deadline). */
void check__fetch_free_all(struct check__run *run);
/* Handle the completion of transfers; call after curl_multi_perform. */
void check__fetch_collect(struct check__run *run);

/* rules.c */
/* Derive the findings of a domain from its facts (pure: no I/O). `now` is the unix time. */
void check__rules(struct check_domain *d, int64_t now);
void check__finding_add(struct check_domain *d, const char *id, enum check_severity sev,
                        const char *result_type, const char *subject, const char *fix,
                        const char *fmt, ...) __attribute__((format(printf, 7, 8)));
enum check_severity check__worst(const struct check_domain *d);
void check__domain_clear(struct check_domain *d);
/* Shared by the rules files: */
const char *check__dns_status_text(const struct dns_answer *a);
/* dns.dnssec for a bogus answer, dns.error for a failed query about `what`. */
void check__dns_problem(struct check_domain *d, const char *what, const struct dns_answer *a);
/* 1 (after check__dns_problem) when the query about `what` failed or got no answer. */
int check__dns_failed(struct check_domain *d, const char *what, const struct dns_answer *a);
/* The warning for an address not connected to because it is private (opts->no_private). */
void check__private_addr(struct check_domain *d, const char *id, const char *host, const char *ip,
                         const char *role, const char *what);
/* The first of the TXT records that `is` accepts, and (*n) how many it accepts. */
const char *check__txt_first(char *const *txt, size_t n_txt, int (*is)(const char *), size_t *n);
/* The first v=STSv1 record and (*n_sts) how many there are. */
const char *check__sts_record(const struct check_domain *d, size_t *n_sts);
/* What the _mta-sts and _smtp._tls names share once v= records are there: more than one
 * (multiple_id) or one longer than CHECK_MAX_TXT_LEN (syntax_id). 1 when a finding was added. */
struct check__txt_kind {
    const char *tag, *rfc, *multiple_id, *multiple_fix, *syntax_id, *sample;
};
int check__txt_multiple_or_long(struct check_domain *d, const char *subj, size_t n, size_t longest,
                                const struct check__txt_kind *k);

/* rules_sts.c: the _mta-sts TXT record; what this stsd hosts against what is published. */
void check__rules_sts_txt(struct check_domain *d);
void check__rules_hosted(struct check_domain *d, int64_t now);
/* rules_fetch.c: the policy host and fetch, the policy, its mx coverage. */
void check__rules_fetch(struct check_domain *d, int sts_published);
void check__rules_policy(struct check_domain *d);
void check__rules_coverage(struct check_domain *d);
/* rules_mx.c: MX records and every probed address. */
void check__rules_mx(struct check_domain *d, int64_t now);
/* rules_rpt.c: _smtp._tls TXT and the https: rua hosts. */
void check__rules_rpt_txt(struct check_domain *d, int sts_published);

/* result.c */
/* The typed result of one domain from its facts and findings (copies; d is unchanged). */
void check__result_domain(const struct check_domain *d, int64_t now,
                          struct check_result_domain *out);
void check__result_domain_clear(struct check_result_domain *r);
/* check__result_domain rendered by check_result_domain_json (the tests' shortcut). */
json_t *check__domain_json(const struct check_domain *d, int64_t now);

/* check.c: the run shared by the loop's parts. */
int64_t check__now_ms(void);
/* Fill *sa (zeroed first) with the numeric address ip of family (AF_INET or AF_INET6) and
 * port; returns the length to pass to connect, or 0 when ip is not an address of family. */
socklen_t check__sockaddr(struct sockaddr_storage *sa, int family, const char *ip, int port);

#endif
