#!/usr/bin/env python3
"""test_check_catalogue.py - `stsd check --json` against the bed (bed.py): for every domain the
EXACT set of (finding id, severity) designed from the finding catalogue (checker/rules.c), the
subject, the TLS-RPT result type where a finding has one, the verdict and the exit status; every
catalogue id (except dane.*) must be triggered by at least one domain. One checker run per
domain (exit status per domain), then one run over many domains at once (the same findings must
come out)."""

import concurrent.futures
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bed as B  # noqa: E402
import stsdtest as st  # noqa: E402

CATALOGUE = [
    "sts.txt.missing", "sts.txt.multiple", "sts.txt.syntax", "sts.txt.id", "sts.txt.stale-id",
    "sts.host.dns", "sts.fetch.tls", "sts.fetch.redirect", "sts.fetch.status",
    "sts.fetch.content-type", "sts.fetch.size", "sts.fetch.timeout", "sts.fetch.slow",
    "sts.policy.syntax", "sts.policy.mode", "sts.policy.max-age", "sts.policy.unknown-key",
    "sts.mx.unmatched", "sts.mx.unused-pattern", "mx.none", "mx.starttls", "mx.tls.version",
    "mx.tls.handshake", "mx.cert.untrusted", "mx.cert.expired", "mx.cert.host",
    "mx.cert.expiring", "mx.unreachable", "rpt.txt.missing", "rpt.txt.multiple",
    "rpt.txt.syntax", "rpt.rua.https",
]

# additions checker/checker.h documents that the bed triggers in this test
ADDITIONS = ["mx.slow", "dns.error", "sts.fetch.connect", "sts.hosted.mismatch",
             "sts.host.cert-expiring"]

# the TLS-RPT result type (RFC 8460 §4.3) that goes with a finding
RESULT_TYPES = {
    "mx.starttls": "starttls-not-supported",
    "mx.tls.handshake": "validation-failure",
    "mx.cert.untrusted": "certificate-not-trusted",
    "mx.cert.expired": "certificate-expired",
    "mx.cert.host": "certificate-host-mismatch",
    "sts.fetch.tls": "sts-webpki-invalid",
}

VERDICT = {2: "error", 1: "warning", 0: "ok"}


def pairs(entry):
    return sorted({(f.get("id"), f.get("severity")) for f in entry.get("findings", [])})


def check_domain(t, bed, d, r, js, dt, label):
    """All assertions for one domain's entry; returns the finding ids seen."""
    name = d.name
    t.ok(r.returncode is not None and not r.timed_out, "%s %s: finished (%.1fs)" %
         (label, name, dt), r)
    san = B.sanitizer_report(r.err)
    t.ok(san is None, "%s %s: no sanitizer report" % (label, name), san)
    entry = B.findings_of(js, name)
    if not t.ok(entry is not None, "%s %s: JSON has the domain" % (label, name),
                "rc=%r stdout=%r stderr=%r" % (r.returncode, r.out[:1500], r.err[:1500])):
        return set()
    want = sorted(d.expect.items())
    t.is_(pairs(entry), want, "%s %s: findings (id, severity)" % (label, name))
    ids = {}
    for f in entry.get("findings", []):
        ids.setdefault(f.get("id"), []).append(f)
    for fid, sub in d.subjects.items():
        fs = ids.get(fid, [])
        t.ok(fs and all(sub in (f.get("subject") or "") for f in fs),
             "%s %s: %s subject names %s" % (label, name, fid, sub),
             [f.get("subject") for f in fs])
    for fid, rt in RESULT_TYPES.items():
        for f in ids.get(fid, []):
            t.is_(f.get("result_type"), rt, "%s %s: %s result_type" % (label, name, fid))
    bad = [f for f in entry.get("findings", [])
           if not (isinstance(f.get("message"), str) and f["message"] and
                   isinstance(f.get("fix"), str) and f["fix"] and f.get("subject"))]
    t.ok(not bad, "%s %s: every finding has subject, message and fix" % (label, name), bad)
    worst = max([{"error": 2, "warning": 1}.get(s, 0) for s in d.expect.values()] or [0])
    t.is_(entry.get("verdict"), VERDICT[worst], "%s %s: verdict" % (label, name))
    return set(ids)


def facts(t, js_by_name, bed):
    """A few facts in the JSON beyond the findings."""
    e = B.findings_of(js_by_name.get("good.test"), "good.test") or {}
    dns = e.get("dns") or {}
    t.is_(dns.get("mx"), [{"preference": 10, "host": "mx1.good.test"},
                          {"preference": 20, "host": "mx2.good.test"}], "good.test: dns.mx")
    t.is_(dns.get("sts_txt"), ["v=STSv1; id=" + B.POLICY_ID], "good.test: dns.sts_txt")
    t.is_((dns.get("policy_host") or {}).get("addresses"), [B.STSD_ADDR],
          "good.test: dns.policy_host.addresses")
    t.is_(dns.get("null_mx"), False, "good.test: dns.null_mx")
    t.is_(dns.get("dnssec"), "insecure", "good.test: dns.dnssec (the bed signs nothing)")
    pol = e.get("policy") or {}
    t.is_([pol.get(k) for k in ("fetched", "status", "mode", "max_age", "mx")],
          [True, 200, "enforce", 604800, ["mx1.good.test", "*.good.test"]],
          "good.test: policy fetched, status, mode, max_age, mx")
    t.ok((pol.get("content_type") or "").startswith("text/plain"),
         "good.test: policy content_type", pol.get("content_type"))
    addrs = [(m.get("host"), a.get("ip"), a.get("reachable"), a.get("starttls"),
              a.get("verified"), a.get("name_match"), a.get("tls_version"))
             for m in e.get("mx") or [] for a in m.get("addresses") or []]
    t.is_(addrs, [("mx1.good.test", B.GOOD_MX[0], True, True, True, True, "TLSv1.3"),
                  ("mx2.good.test", B.GOOD_MX[1], True, True, True, True, "TLSv1.3")],
          "good.test: mx addresses reachable, STARTTLS, verified, name_match, TLSv1.3")

    e = B.findings_of(js_by_name.get("mx-tls10.test"), "mx-tls10.test") or {}
    v = [a.get("tls_version") for m in e.get("mx") or [] for a in m.get("addresses") or []]
    t.is_(v, ["TLSv1"], "mx-tls10.test: tls_version TLSv1 negotiated by the probe")

    e = B.findings_of(js_by_name.get("mx-partial.test"), "mx-partial.test") or {}
    v = sorted((a.get("ip"), a.get("reachable")) for m in e.get("mx") or []
               for a in m.get("addresses") or [])
    t.is_(v, [(B.GOOD_MX[0], True), (B.DEAD_ADDR, False)],
          "mx-partial.test: per-address reachability")

    e = B.findings_of(js_by_name.get("mx-expiring.test"), "mx-expiring.test") or {}
    v = [a.get("days_left") for m in e.get("mx") or [] for a in m.get("addresses") or []]
    t.ok(len(v) == 1 and isinstance(v[0], int) and 3 <= v[0] <= 5,
         "mx-expiring.test: days_left is 4 or 5", v)

    e = B.findings_of(js_by_name.get("mx-v6.test"), "mx-v6.test") or {}
    v = sorted((a.get("ip"), a.get("verified"), a.get("name_match")) for m in e.get("mx") or []
               for a in m.get("addresses") or [])
    t.is_(v, sorted([(B.V6_MX, True, True), (B.MX_FAULTS["mx-v6.test"][0], True, True)]),
          "mx-v6.test: the A and the AAAA address were both probed and verified")

    e = B.findings_of(js_by_name.get("d-nullmx.test"), "d-nullmx.test") or {}
    t.is_((e.get("dns") or {}).get("null_mx"), True, "d-nullmx.test: dns.null_mx")

    e = B.findings_of(js_by_name.get("p-none.test"), "p-none.test") or {}
    t.is_(((e.get("policy") or {}).get("mode")), "none", "p-none.test: policy.mode none")


def main(t):
    bed = B.Bed().start()
    t.ok(bed.stale_error is None, "stale.test: hosted with `stsd policy set` twice",
         bed.stale_error)
    doms = [d for d in B.DOMAINS if d.catalogue]

    planned = {i for d in doms for i in d.expect}
    t.is_(sorted(set(CATALOGUE) - planned), [],
          "the bed plans every catalogue id (but dane.*)")

    def one(d):
        extra = ["-c", bed.config] if d.config else []
        return d, bed.check([d.name], timeout=d.timeout, extra=extra, wall=90)

    seen = set()
    by_name = {}
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        for d, (r, js, dt) in ex.map(one, doms):
            by_name[d.name] = js
            t.is_(r.returncode, d.exit, "%s: exit status" % d.name)
            got = check_domain(t, bed, d, r, js, dt, "alone")
            seen |= got & set(d.expect)

    t.is_(sorted(set(CATALOGUE) - seen), [],
          "every catalogue id (but dane.*) was reported where expected")
    t.is_(sorted(set(ADDITIONS) - seen), [],
          "the documented additions %s were reported where expected" % ", ".join(ADDITIONS))

    facts(t, by_name, bed)

    # --resolver IP:PORT is accepted too; text output has the same exit status and names
    # the findings
    r = st.run([bed.stsd_bin, "check", "--resolver", bed.resolver.replace("@", ":"),
                "--ca-file", bed.ca_file, "--smtp-port", str(bed.smtp_port), "--https-port",
                str(bed.https_port), "--timeout", "3", "good.test"], timeout=90)
    t.is_(r.returncode, 0, "text output, --resolver IP:PORT: good.test exit 0")
    t.ok("good.test" in r.out, "text output names good.test", r.out)
    r = st.run([bed.stsd_bin, "check"] + bed.check_args(3)[1:] + ["mx-expired.test",
                                                                  "d-norpt.test"], timeout=90)
    t.is_(r.returncode, 2, "text output: mx-expired.test + d-norpt.test exit 2")
    t.ok("mx.cert.expired" in r.out and "rpt.txt.missing" in r.out,
         "text output names mx.cert.expired and rpt.txt.missing", r.out)
    san = B.sanitizer_report(r.err)
    t.ok(san is None, "text output: no sanitizer report", san)

    # many domains in one run: the same findings per domain, exit 2 (errors among them)
    batch = [d for d in doms if d.timeout == 3 and not d.config]
    r, js, dt = bed.check([d.name for d in batch], timeout=3, wall=180)
    t.is_(r.returncode, 2, "batch of %d domains: exit status 2" % len(batch))
    t.is_(len((js or {}).get("domains", [])), len(batch), "batch: one entry per domain")
    t.is_((js or {}).get("version"), 1, "batch: version 1")
    for d in batch:
        e = B.findings_of(js, d.name)
        t.is_(pairs(e) if e else None, sorted(d.expect.items()),
              "batch %s: findings (id, severity)" % d.name)
    san = B.sanitizer_report(r.err)
    t.ok(san is None, "batch: no sanitizer report", san)


if __name__ == "__main__":
    st.Tap().run(main)
