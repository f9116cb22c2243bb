/*
 * checker.h - stsd check: resolve a domain's MX, _mta-sts, _smtp._tls and
 * mta-sts host records (libunbound, asynchronous), probe STARTTLS on every address of every MX
 * and fetch the policy (libcurl) in parallel from one poll loop, then turn the facts into
 * findings with a stable id, a severity, a subject, a message and a fix.
 *
 * check_run() may be called repeatedly from any thread (the server's scheduled self-checks):
 * every resource it creates (resolver context, TLS context, curl handles) is released before
 * it returns. It returns a typed result (struct check_result below); check_result_json and
 * check_print_text render it. The checker never opens the database nor reads the state
 * directory: what stsd hosts for a domain is handed in (struct check_hosted_facts).
 *
 * JSON (`stsd check --json`, version 1; one object for all domains):
 *
 *   {"version": 1,
 *    "domains": [
 *     {"domain": "good.test",
 *      "verdict": "ok" | "warning" | "error",        worst severity; info counts as ok
 *      "findings": [{"id", "severity": "error"|"warning"|"info", "subject", "message", "fix",
 *                    "result_type" (TLS-RPT result type, only when one applies)}],
 *      "dns": {"mx": [{"preference", "host"}] (every MX record, by preference, up to 1024),
 *              "null_mx": bool,
 *              "sts_txt": [string], "rpt_txt": [string],      every TXT record at the name
 *              "policy_host": {"name", "addresses": [string]},
 *              "dnssec": "secure" | "insecure" | "bogus" | "unknown"},
 *      "policy": null (no fetch attempted: the policy host does not resolve or the domain is
 *                invalid) |
 *                {"url", "fetched": bool (a 200 body was received), "status": int|null,
 *                 "content_type": string|null, "ms": int, "text": string|null,
 *                 "mode": string|null, "max_age": int|null, "mx": [string]|null,
 *                 "error": string|null,      mode/max_age/mx are null unless the body parsed
 *                 "addresses": [{"ip", "status", "ms", "error"}]   only when the policy host
 *                                 has several addresses: the same fetch pinned to each one},
 *      "mx": [{"host", "preference",           the probed hosts: the first CHECK_MAX_MX
 *              "addresses": [{"ip", "reachable", "starttls", "tls_version", "cipher",
 *                             "verified", "verify_error", "name_match", "not_before",
 *                             "not_after", "days_left", "error", "ms"}]}],
 *      "hosted": only when the caller hands hosted facts (opts.hosted_facts; `stsd check -c`):
 *                {"policy": bool (a policy file for the domain), "policy_id": string|null (the
 *                 recorded id of its current content; null when the file is broken or the
 *                 content has no recorded id), "cert_not_after": string|null (the mta-sts
 *                 host certificate stsd serves)}
 *     }]}
 *
 * Finding ids: the catalogue
 *   sts.txt.missing sts.txt.multiple sts.txt.syntax sts.txt.id sts.txt.stale-id sts.host.dns
 *   sts.fetch.tls sts.fetch.redirect sts.fetch.status sts.fetch.content-type sts.fetch.size
 *   sts.fetch.timeout sts.fetch.slow sts.policy.syntax sts.policy.mode sts.policy.max-age
 *   sts.policy.unknown-key sts.mx.unmatched sts.mx.unused-pattern mx.none mx.starttls
 *   mx.tls.version mx.tls.handshake mx.cert.untrusted mx.cert.expired mx.cert.host
 *   mx.cert.expiring mx.unreachable rpt.txt.missing rpt.txt.multiple rpt.txt.syntax
 *   rpt.rua.https
 * plus these additions:
 *   check.input          error    the argument is not a valid domain name
 *   dns.resolver         error    no resolver answered (check_run returns -1: exit 69)
 *   dns.error            error    a query failed (SERVFAIL, timeout) for a name
 *   dns.dnssec           error    a DNSSEC-bogus answer (result type dnssec-invalid)
 *   mx.too-many          warning  more MX hosts than are probed (CHECK_MAX_MX)
 *   mx.slow              warning  an SMTP banner slower than CHECK_SLOW_BANNER_MS
 *   sts.fetch.connect    error    the policy host does not accept HTTPS connections
 *   sts.fetch.inconsistent warning  one address of the policy host serves another policy
 *                        (and any sts.fetch.* id with subject mta-sts.D[ip] when only that
 *                        address fails)
 *   sts.hosted.mismatch  warning  the served policy differs from the hosted file (hosted facts)
 *   sts.host.cert-expiring warning/error  the mta-sts host certificate stsd serves expires
 *                        within 14 days (error when expired) (hosted facts)
 *   mx.address.private   warning  an MX address is not public and opts.no_private is set: not
 *                        probed (subject "mx1.D[ip]")
 *   sts.host.private     warning  the same for an address of mta-sts.D: not fetched from
 *   rpt.rua.private      warning  the same for an address of an https: rua host: not checked
 *
 * Subjects: a DNS name ("_mta-sts.D", "D", "mta-sts.D"), an MX host ("mx1.D"), an MX address
 * ("mx1.D[192.0.2.1]"), a policy host address ("mta-sts.D[192.0.2.2]"), the policy URL, a
 * policy mx pattern, an rua host, or the certificate file (sts.host.cert-expiring).
 * `--timeout` bounds each SMTP step, each DNS query and each HTTPS transfer; a run ends
 * within about 12 timeouts whatever the servers do.
 */
#ifndef STSD_CHECKER_H
#define STSD_CHECKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#define CHECK_MAX_DOMAINS 256 /* domains per check_run */
#define CHECK_IP_MAX 46       /* INET6_ADDRSTRLEN */

enum check_severity { CHECK_INFO = 0, CHECK_WARNING = 1, CHECK_ERROR = 2 };

/*
 * What this stsd hosts for one domain, handed to the checker by its caller (server/'s
 * srv_check_facts fills it from hosted/). Every pointer is malloc'd and owned by the struct:
 * check_hosted_facts_clear frees them.
 */
struct check_hosted_facts {
    int has_policy;    /* a policy file for the domain */
    int policy_valid;  /* ... that parses */
    char *policy_text; /* its text as stored (NULL when unreadable) */
    size_t policy_len;
    char current_id[33]; /* the recorded id of the current content; "" when the file is
                            broken (it is not served) or the content has no recorded id */
    char **old_ids;      /* the ids of the domain's other (earlier) versions */
    size_t n_old_ids;
    int cert_found; /* a certificate serving mta-sts.<domain> */
    int64_t cert_not_after;
    char cert_path[512]; /* its file (the subject of sts.host.cert-expiring) */
};
void check_hosted_facts_clear(struct check_hosted_facts *f);

struct check_opts {
    const char *resolver;  /* "IP", "IP@PORT", "IP:PORT", "[v6]:PORT"; NULL = resolv.conf */
    const char *ca_file;   /* trust anchors (PEM); NULL = the system store */
    int smtp_port;         /* 0 = 25 */
    int https_port;        /* 0 = 443 */
    int timeout;           /* seconds per SMTP step and for the fetch; 0 = 10 */
    const char *ehlo_name; /* NULL = this host's name */
    /* 1: do not connect to loopback, private, link-local, CGNAT, unspecified, multicast or
     * reserved addresses (check_addr_private); the probe, fetch or rua check of such an
     * address is skipped with a warning (mx.address.private, sts.host.private,
     * rpt.rua.private). `serve`'s self-checks set it unless [checks] allow_private = on;
     * `stsd check` leaves it 0 and probes what the operator named. */
    int no_private;
    /* Compare with what this stsd hosts (sts.txt.stale-id, sts.hosted.mismatch,
     * sts.host.cert-expiring, the JSON's "hosted"): called once per valid domain after the
     * probes, on check_run's thread, with the lowercased name and *out zeroed; the checker
     * frees what it filled (check_hosted_facts_clear). NULL: no comparison. */
    void (*hosted_facts)(void *ctx, const char *domain, struct check_hosted_facts *out);
    void *hosted_ctx;
};

/* ---------------------------------------------------------------- the typed result */

/* One finding. id and result_type are static strings; subject, message and fix malloc'd. */
struct check_finding {
    const char *id; /* "mx.starttls", ... (the catalogue above) */
    enum check_severity severity;
    char *subject, *message, *fix;
    const char *result_type; /* the TLS-RPT result type; NULL when none applies */
};

/* One address of one MX host as the STARTTLS probe saw it. Empty strings stand for JSON null. */
struct check_result_addr {
    char ip[CHECK_IP_MAX];
    int reachable;        /* TCP connected and an SMTP banner started */
    int starttls;         /* STARTTLS offered and accepted */
    char tls_version[16]; /* "TLSv1.3"; "" unknown */
    char cipher[64];
    int verified; /* handshake completed and the chain is valid */
    char verify_error[160];
    int name_match;                /* a SAN dNSName matches the MX host (only with have_cert) */
    int have_cert;                 /* not_before, not_after and days_left are set */
    int64_t not_before, not_after; /* unix time */
    int64_t days_left;             /* whole days from the check to not_after */
    char error[256];               /* what went wrong; "" nothing */
    int64_t ms;                    /* the probe's duration */
};

struct check_result_mx {
    char *host; /* printable */
    int preference;
    struct check_result_addr *addrs; /* A then AAAA, at most 16 */
    size_t n_addrs;
};

/* The policy host's addresses fetched one by one (only when it has several). */
struct check_result_fetch_addr {
    char ip[CHECK_IP_MAX];
    long status; /* 0: no HTTP answer */
    int64_t ms;
    char error[256];
};

/* The fetch of https://mta-sts.D/.well-known/mta-sts.txt. */
struct check_result_policy {
    int attempted; /* 0: no fetch (no address, invalid domain): the rest is empty */
    char url[512];
    int fetched;            /* a 200 body was received */
    long status;            /* HTTP status; 0 no answer */
    char content_type[128]; /* "" none */
    int64_t ms;
    char *text;       /* the body when fetched, else NULL */
    const char *mode; /* "enforce"/"testing"/"none" when the body parsed, else NULL */
    long max_age;     /* with mode */
    char **mx;        /* with mode: the mx patterns */
    size_t n_mx;
    char error[256]; /* "" none */
    int per_address; /* the host has several addresses: addrs lists each fetch */
    struct check_result_fetch_addr *addrs;
    size_t n_addrs;
};

struct check_result_mx_record {
    int preference;
    char *host;
};

struct check_result_dns {
    struct check_result_mx_record *mx; /* every MX record, by preference (at most 1024) */
    size_t n_mx;
    int null_mx;
    char **sts_txt; /* every TXT record at _mta-sts.D */
    size_t n_sts_txt;
    char **rpt_txt; /* every TXT record at _smtp._tls.D */
    size_t n_rpt_txt;
    char *policy_host; /* "mta-sts.D" */
    char (*policy_host_addrs)[CHECK_IP_MAX];
    size_t n_policy_host_addrs;
    const char *dnssec; /* "secure", "insecure", "bogus" or "unknown" */
    /* Derived for callers (not in the JSON): */
    char sts_id[33];        /* the id of the first v=STSv1 record that parses; "" none */
    const char *rpt_record; /* the first v=TLSRPTv1 record (points into rpt_txt); NULL none */
    char **rua;             /* its rua URIs when it parses */
    size_t n_rua;
};

/* What stsd hosts, as compared (present only when opts.hosted_facts was given). */
struct check_result_hosted {
    int compared;       /* 0: no facts were handed in (no "hosted" in the JSON) */
    int policy;         /* a policy file */
    char policy_id[33]; /* "" null */
    int cert_found;
    int64_t cert_not_after;
    char cert_path[512];
};

struct check_result_domain {
    char *domain;                   /* lowercased, no trailing dot, printable */
    int valid;                      /* a valid domain name (else only check.input) */
    enum check_severity worst;      /* the verdict: CHECK_INFO is "ok" */
    struct check_finding *findings; /* in the order the rules found them */
    size_t n_findings;
    struct check_result_dns dns;
    struct check_result_policy policy;
    struct check_result_mx *mx; /* the probed MX hosts (the first 64 by preference) */
    size_t n_mx;
    struct check_result_hosted hosted;
};

struct check_result {
    int ran; /* 0: check_run failed before checking anything (bad option): nothing to render */
    int unavailable; /* no resolver answered: every valid domain has only dns.resolver */
    enum check_severity worst;
    struct check_result_domain *domains; /* the arguments, de-duplicated, in order */
    size_t n_domains;
};

/* check.c */
/*
 * Check `n` domains (in parallel) into *out (zeroed first; the caller frees it with
 * check_result_free, also on failure). Returns the worst severity (enum check_severity), or
 * -1 when the check could not run (no resolver answered: out->unavailable; a bad option or
 * no TLS context: out->ran == 0) with a one-line reason in err.
 */
int check_run(const struct check_opts *opts, const char *const *domains, size_t n,
              struct check_result *out, char *err, size_t errlen);

/* result.c */
void check_result_free(struct check_result *r);
/* "error", "warning", "info". */
const char *check_severity_name(enum check_severity s);
/* The verdict word: "error", "warning", or "ok" for CHECK_INFO. */
const char *check_verdict_name(enum check_severity s);

/* addr.c */
/* 1 when an address is not a public unicast one: loopback (127/8, ::1), private (RFC 1918,
 * fc00::/7), link-local (169.254/16, fe80::/10), CGNAT (100.64/10), unspecified (0/8, ::),
 * site-local fec0::/10, multicast and reserved (224/4, 240/4, ff00::/8), and the IPv4-mapped,
 * IPv4-compatible and NAT64 (64:ff9b::/96) forms of those; also any non-IP family. Pure. */
struct sockaddr;
int check_addr_private(const struct sockaddr *sa);
/* The same for a numeric address string; 1 when it does not parse. */
int check_addr_private_ip(const char *ip);

/* output.c */
/* The JSON object documented above (`stsd check --json`, version 1); NULL when !r->ran. */
json_t *check_result_json(const struct check_result *r);
/* One domain's object of that JSON ("domains"[i]: what the self-checks store). */
json_t *check_result_domain_json(const struct check_result_domain *d);
/* The result grouped per domain as human-readable text (network text escaped); colour only
 * when `color` is set. */
void check_print_text(FILE *f, const struct check_result *r, int color);

#endif
