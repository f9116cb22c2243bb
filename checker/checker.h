/*
 * checker.h - stsd check: resolve a domain's MX, _mta-sts, _smtp._tls and
 * mta-sts host records (libunbound, asynchronous), probe STARTTLS on every address of every MX
 * and fetch the policy (libcurl) in parallel from one poll loop, then turn the facts into
 * findings with a stable id, a severity, a subject, a message and a fix.
 *
 * check_run() may be called repeatedly from any thread (the server's scheduled self-checks):
 * every resource it creates (resolver context, TLS context, curl handles) is released before
 * it returns.
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
 *      "hosted": only with a state directory (-c):
 *                {"policy": bool (a policy file for the domain), "policy_id": string|null (the
 *                 id of its current content in policy_versions; null when the file is broken),
 *                 "cert_not_after": string|null (the mta-sts host certificate in cert_dir)}
 *     }]}
 *
 * Finding ids: those of the catalogue in rules.c, plus these:
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
 *   sts.hosted.mismatch  warning  the served policy differs from the hosted file (with -c)
 *   sts.host.cert-expiring warning/error  the mta-sts host certificate in cert_dir expires
 *                        within 14 days (error when expired) (with -c)
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
#include <stdio.h>
#include <jansson.h>

#define CHECK_MAX_DOMAINS 256 /* domains per check_run */

enum check_severity { CHECK_INFO = 0, CHECK_WARNING = 1, CHECK_ERROR = 2 };

struct check_opts {
    const char *resolver;  /* "IP", "IP@PORT", "IP:PORT", "[v6]:PORT"; NULL = resolv.conf */
    const char *ca_file;   /* trust anchors (PEM); NULL = the system store */
    int smtp_port;         /* 0 = 25 */
    int https_port;        /* 0 = 443 */
    int timeout;           /* seconds per SMTP step and for the fetch; 0 = 10 */
    const char *state_dir; /* non-NULL: compare with what this stsd hosts */
    const char *cert_dir;  /* with state_dir: where the mta-sts host certificates are */
    const char *ehlo_name; /* NULL = this host's name */
    /* 1: do not connect to loopback, private, link-local, CGNAT, unspecified, multicast or
     * reserved addresses (check_addr_private); the probe, fetch or rua check of such an
     * address is skipped with a warning (mx.address.private, sts.host.private,
     * rpt.rua.private). `serve`'s self-checks set it unless [checks] allow_private = on;
     * `stsd check` leaves it 0 and probes what the operator named. */
    int no_private;
};

/* check.c */
/*
 * Check `n` domains (in parallel). *out_json receives the object documented above (the caller
 * frees it with json_decref), also when the check could not run. Returns the worst severity
 * (enum check_severity), or -1 when the check could not run (no resolver answered, bad
 * option) with a one-line reason in err.
 */
int check_run(const struct check_opts *opts, const char *const *domains, size_t n,
              json_t **out_json, char *err, size_t errlen);
/* Parse "IP", "IP@PORT", "IP:PORT", "[v6]:PORT" into unbound's "IP@PORT" form. 0 or -1. */
int check_resolver_parse(const char *s, char *out, size_t outsz);

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
/* Print the result of check_run grouped per domain as human-readable text; colour only when
 * `color` is set. */
void check_print_text(FILE *f, const json_t *result, int color);

#endif
