#!/usr/bin/env python3
"""Senders' quirks through the real routes (SPEC §4): `stsd reports ingest` and `stsd serve`.

Postfix 3.10's TLSRPT (libtlsrpt + tlsrpt-reporter) sends no-policy-found policies without a
policy-domain (tests/data/tlsrpt/valid/quirk-postfix-no-policy-domain.json):

- (a) in an e-mail with `TLS-Report-Domain: example.test` (laid out as tlsrpt-reportd writes
  it): stored, the policy attributed to example.test (inferred), counted by
  `reports summary --domain example.test --json`, shown "(from TLS-Report-Domain)";
- (b) in an e-mail without that header: stored unattributed, counted in the totals and as
  "(unattributed)" by domain;
- (c) POSTed (curl, HTTP/1.1 and HTTP/2) to mta-sts.example.test: 201, attributed to
  example.test, with accept = any and with accept = hosted; the same report as (a) over
  HTTPS is a duplicate of it (the digest is of the report as sent);
- (d) POSTed to tlsrpt.example.test (a report host that is not mta-sts.<domain>), or with
  `Host: 127.0.0.1:<port>`: stored unattributed with accept = any and with accept = hosted
  (it names no domain to refuse: never turned away).

Every other new quirk case is ingested and stored with the figures of its .expect file.
"""
import email.message
import email.policy
import gzip
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

POSTFIX = os.path.join(il.TLSRPT, "valid", "quirk-postfix-no-policy-domain.json")
NEW_QUIRKS = ["quirk-postfix-no-policy-domain", "quirk-no-policy-found-null-domain",
              "quirk-zero-summary", "quirk-report-delivery-only", "quirk-empty-arrays",
              "quirk-ms-failure-reason-codes"]
DOMAIN = "example.test"
HOST = "mta-sts." + DOMAIN
REPORTS_HOST = "tlsrpt." + DOMAIN  # a report URL on a host of its own
POLICY = "version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n"
WINDOW = ["--since", "2025-09-01", "--until", "2025-10-01"]


def postfix_report(report_id):
    """The Postfix sample with another report-id, gzipped (as tlsrpt-reportd sends it)."""
    rep = json.loads(open(POSTFIX, encoding="utf-8").read())
    rep["report-id"] = report_id
    return gzip.compress(json.dumps(rep).encode())


def eml(path, data, report_domain):
    """A report message as tlsrpt-reportd writes it (multipart/report, the gzip attachment,
    TLS-Report-Domain and TLS-Report-Submitter), without the domain header when None."""
    m = email.message.EmailMessage()
    m["Subject"] = "Report Domain: %s Submitter: sender.example Report-ID: <x@sender.example>" % (
        report_domain or "example.test")
    m["From"] = "tlsrpt@sender.example"
    m["To"] = "tlsrpt@example.test"
    m["Message-ID"] = "<%s@sender.example>" % os.path.basename(path)
    if report_domain is not None:
        m["TLS-Report-Domain"] = report_domain
    m["TLS-Report-Submitter"] = "sender.example"
    m["TLS-Required"] = "No"
    m.set_content("This is an aggregate TLS report from sender.example", charset="ascii")
    m.add_attachment(data, maintype="application", subtype="tlsrpt+gzip",
                     filename="sender.example!example.test!1758412800!1758499199!1.json.gz")
    m.replace_header("Content-Type", m["Content-Type"].replace(
        "multipart/mixed", 'multipart/report; report-type="tlsrpt"'))
    with open(path, "wb") as f:
        f.write(m.as_bytes(policy=email.policy.SMTP))
    return path


def cli(s, *args):
    return st.run([st.STSD_BIN, "reports", "-c", s.config] + list(args), timeout=60)


def policies_of(s, rid):
    """[(type, policy_domain, domain_inferred, successful, failed, details)] of report rid."""
    return il.db_rows(s.db, "SELECT p.policy_type, p.policy_domain, p.domain_inferred, "
                      "p.successful, p.failed, (SELECT count(*) FROM failure_details f "
                      "WHERE f.policy = p.id) FROM report_policies p WHERE p.report = ? "
                      "ORDER BY p.id", (rid,))


def stored_id(t, r, what):
    m = re.search(r"^stored id=(\d+)", r.out, re.M)
    t.ok(r.returncode == 0 and m is not None, what + ": stored", r)
    return int(m.group(1)) if m else -1


def post(s, host, body, http2=False, authority=None):
    """curl POST of a gzip report to https://<host>:<port>/tlsrpt, <host> resolved to
    127.0.0.1 and checked against the test CA (SNI <host>); `authority`: another Host."""
    headers = ["Content-Type: application/tlsrpt+gzip"]
    if authority:
        headers.append("Host: " + authority)
    return st.curl("https://%s:%d/tlsrpt" % (host, s.port), http2=http2, headers=headers,
                   data=body, resolve="%s:%d:127.0.0.1" % (host, s.port), cacert=il.ca().cert)


def email_route(t, s, d):
    # (a) TLS-Report-Domain names the domain.
    p = eml(os.path.join(d, "a.eml"), postfix_report("pf-a"), "Example.Test")
    a = stored_id(t, cli(s, "ingest", p), "(a) e-mail with TLS-Report-Domain")
    t.is_(policies_of(s, a), [("no-policy-found", DOMAIN, 1, 4, 0, 0)],
          "(a) the policy is attributed to example.test, inferred")
    r = cli(s, "summary", "--domain", DOMAIN, "--json", *WINDOW)
    tot = json.loads(r.out)["totals"] if r.returncode == 0 else {}
    t.is_((tot.get("reports"), tot.get("successful_sessions"), tot.get("failed_sessions")),
          (1, 4, 0), "(a) summary --domain example.test counts it")
    r = cli(s, "show", str(a))
    t.ok(r.returncode == 0 and
         "policy 1: no-policy-found example.test (from TLS-Report-Domain), 4 successful" in r.out,
         "(a) reports show: example.test (from TLS-Report-Domain)", r)
    # (b) no header: unattributed.
    p = eml(os.path.join(d, "b.eml"), postfix_report("pf-b"), None)
    b = stored_id(t, cli(s, "ingest", p), "(b) e-mail without TLS-Report-Domain")
    t.is_(policies_of(s, b), [("no-policy-found", "", 0, 4, 0, 0)],
          "(b) the policy is stored unattributed ('', not inferred)")
    r = cli(s, "list", "--json", *WINDOW)
    rows = {x["id"]: x["policy_domains"] for x in json.loads(r.out)["reports"]} \
        if r.returncode == 0 else {}
    t.is_((rows.get(a), rows.get(b)),
          (["example.test (from TLS-Report-Domain)"], ["(unattributed)"]),
          "(a)(b) reports list --json names them so")
    r = cli(s, "show", str(b))
    t.ok(r.returncode == 0 and "policy 1: no-policy-found (unattributed), 4 successful" in r.out,
         "(b) reports show: (unattributed)", r)
    return a, b


def quirk_files(t, s):
    """Each new quirk case by `reports ingest` of the .json: stored, figures as .expect."""
    ids = {}
    for name in NEW_QUIRKS:
        path = os.path.join(il.TLSRPT, "valid", name + ".json")
        rid = stored_id(t, cli(s, "ingest", path), name)
        ids[name] = rid
        want = []
        for line in open(os.path.join(il.TLSRPT, "valid", name + ".expect"), encoding="utf-8"):
            m = re.match(r"policy\[\d+\]: type=(\S+) domain=(\S+) successful=(\d+) failed=(\d+) "
                         r"failure-details=(\d+)", line)
            if m:
                dom = "" if m.group(2) == "-" else m.group(2)
                want.append((m.group(1), dom, 0, int(m.group(3)), int(m.group(4)),
                             int(m.group(5))))
        t.is_(policies_of(s, rid), want, "%s: its policies as in the .expect file" % name)
    codes = il.db_rows(s.db, "SELECT failure_reason_code, sending_mta_ip, receiving_ip FROM "
                       "failure_details WHERE report = ? ORDER BY id",
                       (ids["quirk-ms-failure-reason-codes"],))
    t.is_(codes, [("MX_HOSTS_MISMATCH", None, None), ("VALIDATION_FAILURE", None, "192.0.2.25")],
          "Microsoft's failure-reason-code values kept as sent, absent IPs NULL")
    return ids


def summaries(t, s):
    r = cli(s, "summary", "--by", "domain", "--json", *WINDOW)
    j = json.loads(r.out) if r.returncode == 0 else {}
    groups = {g["key"]: (g["reports"], g["successful_sessions"]) for g in j.get("groups", [])}
    # September 2025: pf-a (example.test, 4), pf-b and the Postfix file (unattributed, 4 each),
    # the null-domain case is in 2026 and the delivery-only report (reports.example.net, 1).
    t.is_(groups.get("(unattributed)"), (2, 8), "by domain: (unattributed) is a group")
    t.is_(groups.get(DOMAIN), (1, 4), "by domain: example.test has the inferred one")
    t.is_(groups.get("reports.example.net"), (1, 1),
          "by domain: the report about the rua mailbox's domain stands apart")
    t.is_((j.get("totals", {}).get("reports"), j.get("totals", {}).get("successful_sessions")),
          (4, 13), "the totals count every one of them")
    r = cli(s, "summary", *WINDOW)
    t.ok(r.returncode == 0 and re.search(r"reports\s+4\b", r.out), "text summary", r)
    # --domain '(unattributed)': only the policies that named none.
    r = cli(s, "summary", "--domain", "(unattributed)", "--json", *WINDOW)
    tot = json.loads(r.out)["totals"] if r.returncode == 0 else {}
    t.is_((tot.get("reports"), tot.get("successful_sessions")), (2, 8),
          "summary --domain '(unattributed)'")
    r = cli(s, "list", "--domain", "(unattributed)", "--json", *WINDOW)
    got = sorted(x["report_id"] for x in json.loads(r.out)["reports"]) if r.returncode == 0 else r
    t.is_(got, ["2025-09-21T00:00:00Z_idx1_example.test", "pf-b"],
          "list --domain '(unattributed)'")
    r = cli(s, "list", "--domain", "(other)", *WINDOW)
    t.is_(r.returncode, 64, "list --domain '(other)': refused as no domain name")
    # November 2026: the null policy-domain case (100 sessions) and the all-zero summary.
    r = cli(s, "summary", "--by", "domain", "--json", "--since", "2026-11-01", "--until",
            "2026-11-02")
    j = json.loads(r.out) if r.returncode == 0 else {}
    groups = {g["key"]: (g["reports"], g["successful_sessions"]) for g in j.get("groups", [])}
    t.is_((j.get("totals", {}).get("reports"), j.get("totals", {}).get("successful_sessions"),
           groups), (2, 100, {"(unattributed)": (1, 100), "example.org": (1, 0)}),
          "a report whose summary is all zeros is a report of no session")


def admin_get(s, path):
    """GET on the admin listener with the token: (status, body bytes)."""
    with open(os.path.join(s.state_dir, "admin.token")) as f:
        token = f.read().strip()
    c = http.client.HTTPConnection("127.0.0.1", s.admin_port, timeout=30)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def admin_views(t, s, inferred_id):
    """The admin API and the dashboard on the accept = any server: example.test has pf-c (2)
    and pf-a; (unattributed) the two posts of (d)."""
    q = "since=2025-09-01&until=2025-10-01"
    status, body = admin_get(s, "/api/v1/summary?by=domain&" + q)
    j = il.body_json(body)
    groups = {g["key"]: (g["reports"], g["successful_sessions"]) for g in j.get("groups", [])}
    t.is_((status, groups.get("(unattributed)"), groups.get(DOMAIN)), (200, (2, 8), (3, 12)),
          "API summary by domain: (unattributed) and the inferred example.test")
    status, body = admin_get(s, "/api/v1/summary?domain=%28unattributed%29&" + q)
    t.is_((status, il.body_json(body).get("totals", {}).get("reports")), (200, 2),
          "API summary?domain=(unattributed)")
    status, body = admin_get(s, "/api/v1/reports/%s" % inferred_id)
    p0 = (il.body_json(body).get("policies") or [{}])[0]
    t.is_((status, p0.get("policy_domain"), p0.get("domain_inferred"), p0.get("domain_from")),
          (200, DOMAIN, True, "the mta-sts host"), "API report: the domain is marked inferred")
    status, body = admin_get(s, "/api/v1/reports?" + q)
    doms = sorted(str(r["policy_domains"]) for r in il.body_json(body).get("reports", []))
    t.is_((status, doms), (200, ["['(unattributed)']"] * 2 +
                           ["['example.test (from the mta-sts host)']"] * 3),
          "API report list: (unattributed) / (from the mta-sts host)")
    # /metrics: an unattributed policy is no report of its own and no domain's series.
    n = il.db_rows(s.db, "SELECT count(*) FROM reports")[0][0]
    want = ("stsd_reports_stored %d" % n, 'stsd_sessions{domain="example.test",'
            'result="successful"} 12')
    for _ in range(100):  # the live counters take the stored reports as they are committed
        status, body = admin_get(s, "/metrics")
        text = body.decode("utf-8", "replace")
        if all(w in text.splitlines() for w in want):
            break
        time.sleep(0.1)
    t.ok(all(w in text.splitlines() for w in want),
         "/metrics: %d reports stored, example.test 12 successful sessions" % n,
         [x for x in text.splitlines() if x.startswith(("stsd_reports_stored", "stsd_sessions"))])
    status, body = admin_get(s, "/?" + q)
    t.ok(status == 200 and b'reports with unattributed policies</dt><dd data-k="unattributed">2<'
         in body, "dashboard: a card counts the reports with unattributed policies",
         body[:3000])


def https_route(t, d):
    c = il.ca()
    pols = {"a.test": il.POLICY, DOMAIN: POLICY}
    certs = {il.HOST: c.leaf, HOST: c.issue(HOST), REPORTS_HOST: c.issue(REPORTS_HOST)}
    for accept in ("any", "hosted"):
        s = st.Stsd(policies=pols, certs=certs, admin=accept == "any",
                    extra_config="[reports]\naccept = %s\n" % accept)
        s.db = os.path.join(s.state_dir, "stsd.db")
        s.start()
        for k, h2 in enumerate((False, True)):
            r = post(s, HOST, postfix_report("pf-c-%s-%d" % (accept, k)), http2=h2)
            j = il.body_json(r.body)
            t.ok(r.status == 201 and j.get("status") == "stored",
                 "(c) accept = %s, HTTP/%s to %s: 201" % (accept, "2" if h2 else "1.1", HOST), r)
            t.is_(policies_of(s, j.get("id")), [("no-policy-found", DOMAIN, 1, 4, 0, 0)],
                  "(c) accept = %s: attributed to example.test, inferred" % accept)
        # (d) posted to a name that is not mta-sts.<domain> (the report URL's own host), and
        # with a Host that is an IP (SNI mta-sts.a.test): nothing names a domain.
        others = [(REPORTS_HOST, None), (il.HOST, "127.0.0.1:%d" % s.port)]
        for k, (host, authority) in enumerate(others):
            r = post(s, host, postfix_report("pf-d-%s-%d" % (accept, k)), authority=authority)
            j = il.body_json(r.body)
            what = "(d) accept = %s, posted to %s" % (accept, authority or host)
            # Never turned away, also with accept = hosted: it names no domain to refuse.
            t.ok(r.status == 201 and j.get("status") == "stored", what + ": 201", r)
            t.is_(policies_of(s, j.get("id")), [("no-policy-found", "", 0, 4, 0, 0)],
                  what + ": stored unattributed")
        if accept == "hosted":
            # A report that names a hosted domain goes in whatever the host name.
            r = post(s, REPORTS_HOST, il.report_bytes("named-1", domain=DOMAIN, gz=True))
            t.is_(r.status, 201, "(d) accept = hosted: a report naming example.test: 201")
        # The same report as by e-mail (a): a duplicate over HTTPS, attributed alike.
        r = post(s, HOST, postfix_report("pf-a"))
        first = il.body_json(r.body)
        r2 = post(s, HOST, postfix_report("pf-a"))
        t.is_((r2.status, il.body_json(r2.body).get("id")), (200, first.get("id")),
              "accept = %s: the same report again: 200 duplicate" % accept)
        t.ok("event=report.stored" in s.log() and "domain=example.test" in s.log(),
             "accept = %s: the log line names the attributed domain" % accept, s.log()[-2000:])
        if accept == "any":
            admin_views(t, s, first.get("id"))
        t.is_(s.stop(), 0, "accept = %s: serve exits 0" % accept)
        # mail ingest into the same database: the e-mail copy of pf-a is that same report.
        p = eml(os.path.join(d, "dup-%s.eml" % accept), postfix_report("pf-a"), DOMAIN)
        r = cli(s, "ingest", p)
        t.ok(r.returncode == 0 and
             re.search(r"^duplicate id=%s\b" % first.get("id"), r.out, re.M),
             "accept = %s: the e-mail copy with TLS-Report-Domain is a duplicate" % accept, r)


def main(t):
    d = st.tempdir("stsd-quirks-")
    s = il.server("accept = any\n", start=False)
    email_route(t, s, d)
    quirk_files(t, s)
    summaries(t, s)
    https_route(t, d)


if __name__ == "__main__":
    st.Tap().run(main)
