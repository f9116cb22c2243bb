/* rules_mx.c - the MX records and the STARTTLS probe of every address (RFC 3207, RFC 8461
 * §4.2). */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void addr_subject(char *buf, size_t sz, const struct check_mx *mx,
                         const struct check_addr *a)
{
    snprintf(buf, sz, "%s[%s]", mx->host, a->ip);
}

static void rules_addr(struct check_domain *d, const struct check_mx *mx,
                       const struct check_addr *a, int64_t now)
{
    char subj[400];
    addr_subject(subj, sizeof(subj), mx, a);
    if (!a->reachable)
        return; /* mx.unreachable covers it when no address answers */
    if (a->banner_ms > CHECK_SLOW_BANNER_MS)
        check__finding_add(d, "mx.slow", CHECK_WARNING, NULL, subj,
                           "Make the SMTP server greet promptly (check reverse DNS lookups "
                           "and tarpitting of unknown clients).",
                           "the SMTP banner took %lld ms", (long long)a->banner_ms);
    if (!a->starttls) {
        check__finding_add(d, "mx.starttls", CHECK_ERROR, "starttls-not-supported", subj,
                           "Enable STARTTLS on the SMTP server with a certificate for the MX "
                           "host name (postfix: smtpd_tls_security_level = may).",
                           "%s", a->error[0] ? a->error : "STARTTLS failed");
        return;
    }
    if (!a->handshake) {
        check__finding_add(d, "mx.tls.handshake", CHECK_ERROR, "validation-failure", subj,
                           "Fix the server's TLS setup (certificate and key loaded, TLS 1.2 or "
                           "1.3 enabled, common cipher suites).",
                           "STARTTLS was accepted but the TLS handshake failed: %s", a->error);
        return;
    }
    if (a->tls_version != 0 && a->tls_version < TLS1_2_VERSION)
        check__finding_add(d, "mx.tls.version", CHECK_ERROR, NULL, subj,
                           "Enable TLS 1.2 and 1.3 on the SMTP server (postfix: "
                           "smtpd_tls_protocols = >=TLSv1.2).",
                           "the server negotiated %s; MTA-STS senders require TLS 1.2 or "
                           "later",
                           a->tls_version_name);
    if (a->err_expired || a->err_not_yet_valid) {
        char nb[21], na[21];
        format_rfc3339((time_t)a->not_before, nb);
        format_rfc3339((time_t)a->not_after, na);
        check__finding_add(
            d, "mx.cert.expired", CHECK_ERROR, "certificate-expired", subj,
            "Renew the certificate (and reload the SMTP server), and make "
            "renewal automatic.",
            "the certificate %s (valid %s to %s)",
            a->err_not_yet_valid && !a->err_expired ? "is not yet valid" : "has expired", nb, na);
    }
    if (a->err_untrusted)
        check__finding_add(d, "mx.cert.untrusted", CHECK_ERROR, "certificate-not-trusted", subj,
                           "Use a certificate from a public CA and send the full chain "
                           "(leaf and intermediates) from the SMTP server.",
                           "the certificate chain does not validate: %s%s", a->verify_error,
                           strstr(a->verify_error, "local issuer")
                               ? " (a missing intermediate certificate?)"
                               : "");
    if (a->have_cert && !a->name_match)
        check__finding_add(d, "mx.cert.host", CHECK_ERROR, "certificate-host-mismatch", subj,
                           "Get a certificate whose subjectAltName lists the MX host name (a "
                           "wildcard covers one left-most label only).",
                           "no subjectAltName dNSName of the certificate matches %s "
                           "(RFC 8461 §4.2)",
                           mx->host);
    if (a->have_cert && !a->err_expired && !a->err_not_yet_valid) {
        int64_t left = (a->not_after - now) / 86400;
        if (left < CHECK_EXPIRING_DAYS)
            check__finding_add(d, "mx.cert.expiring", CHECK_WARNING, NULL, subj,
                               "Renew the certificate now and check that renewal is "
                               "automatic.",
                               "the certificate expires in %lld day%s", (long long)left,
                               left == 1 ? "" : "s");
    }
}

void check__rules_mx(struct check_domain *d, int64_t now)
{
    char subj[300];
    snprintf(subj, sizeof(subj), "%s", d->name);
    if (check__dns_failed(d, subj, &d->mx_ans))
        return;
    if (d->null_mx && d->n_mx_listed == 0) {
        check__finding_add(d, "mx.none", CHECK_INFO, NULL, subj,
                           "Nothing to do if the domain accepts no mail (RFC 7505).",
                           "the domain publishes a null MX: it accepts no mail");
        return;
    }
    if (d->n_mx_listed == 0) {
        check__finding_add(d, "mx.none", CHECK_ERROR, NULL, subj,
                           "Publish MX records for the domain's mail servers (or a null MX, "
                           "\"0 .\", if it accepts no mail).",
                           d->mx_ans.status == DNS_NXDOMAIN ? "the domain does not exist (NXDOMAIN)"
                                                            : "the domain has no MX records");
        return;
    }
    if (d->n_mx_total > CHECK_MAX_MX)
        check__finding_add(d, "mx.too-many", CHECK_WARNING, NULL, subj,
                           "Publish fewer MX records; senders try only a few.",
                           "%zu MX records; only the first %d (by preference) were probed",
                           d->n_mx_total, CHECK_MAX_MX);
    for (size_t i = 0; i < d->n_mx; i++) {
        const struct check_mx *mx = &d->mx[i];
        if (mx->a.bogus)
            check__dns_problem(d, mx->host, &mx->a);
        if (mx->n_addrs == 0) {
            check__finding_add(
                d, "mx.unreachable", CHECK_ERROR, NULL, mx->host,
                "Publish A/AAAA records for the MX host, or point the MX at a host that has "
                "them.",
                !mx->host_valid ? "the MX target %s is not a valid host name"
                                : "the MX host %s has no address: A %s, AAAA %s",
                mx->host, check__dns_status_text(&mx->a), check__dns_status_text(&mx->aaaa));
            continue;
        }
        int any = 0;
        size_t n_private = 0;
        for (size_t j = 0; j < mx->n_addrs; j++) {
            any |= mx->addrs[j].reachable;
            if (mx->addrs[j].private_skipped) {
                n_private++;
                check__private_addr(d, "mx.address.private", mx->host, mx->addrs[j].ip,
                                    "senders deliver to", "not probed");
            }
        }
        if (!any && n_private < mx->n_addrs) {
            size_t j0 = 0;
            while (mx->addrs[j0].private_skipped) /* some address is not private */
                j0++;
            const struct check_addr *a0 = &mx->addrs[j0];
            check__finding_add(d, "mx.unreachable", CHECK_ERROR, NULL, mx->host,
                               "Make the SMTP server listen on port 25 of the MX host's "
                               "addresses and let port 25 through the firewall.",
                               "no address of %s answers SMTP (%s%s%s)", mx->host, a0->ip,
                               a0->error[0] ? ": " : "", a0->error);
            continue;
        }
        for (size_t j = 0; j < mx->n_addrs; j++)
            rules_addr(d, mx, &mx->addrs[j], now);
    }
}
