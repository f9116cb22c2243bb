#!/usr/bin/env python3
"""test_dashboard_pages.py - the dashboard's overview ("/") and domain pages (/domains/{d}).

Hosts 4 domains that each need attention for one reason (failed sessions reported in the
last 30 days, a certificate 5 days from expiry, a DNS id other than the one served in the
latest check, a latest check with errors) and 110 healthy ones whose names sort before and
after them; the checks are rows written into the database with python's sqlite3 (what the
self-checks store), the reports go in with `stsd reports ingest`. Checks: the attention
domains come first, each with its reason; the totals; search (?q=, case-insensitive); paging
(50 a page, every domain exactly once over all pages, the pager's links); a domain page with
the policy text, the ids, the certificate, every finding with its fix and the report
numbers; hostile names from reports and checks stay text; a domain that is not hosted is 404.
One more domain's policy file has never parsed (nothing is served for it): it comes first with
"broken policy file", counts in the totals, search finds it and its page shows the file's
error (file, line, reason). Every row shows the mode served (enforce, testing, none; "-" for
the broken file).
A screenshot of the overview goes to <build>/dashboard-overview.png.
"""

import calendar
import json
import os
import re
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

EVIL = '<img src=x id="evil">&"\''


def policy(mx):
    return "version: STSv1\nmode: enforce\nmx: %s\nmax_age: 604800\n" % mx


class Page(al.Page):
    """Rows of the domains table (domain, attention), data-k cells and cards, pager, links."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self.cards = {}
        self.k = None
        self.pager = None
        self.findings = []
        self.cell = None
        self.frow = None

    def start(self, tag, a):
        if tag == "tr" and "dom" in a.get("class", "").split():
            self.rows.append((a["data-domain"], a["data-attention"]))
        if tag == "tr" and a.get("class") == "finding":
            self.frow = {"id": a["data-id"], "severity": a["data-severity"],
                         "subject": a["data-subject"]}
            self.findings.append(self.frow)
        if "data-k" in a:
            self.k = [a["data-k"], ""]
        if tag == "p" and a.get("class") == "pager" and self.pager is None:
            self.pager = (int(a["data-page"]), int(a["data-pages"]))

    def handle_endtag(self, tag):
        if self.k is not None and tag in ("dd", "td", "span"):
            key, v = self.k
            if self.frow is not None and key in ("message", "fix"):
                self.frow[key] = v
            else:
                self.cards.setdefault(key, v.strip())
            self.k = None
        if tag == "tr":
            self.frow = None

    def handle_data(self, data):
        if self.k is not None:
            self.k[1] += data


def page(s, path):
    status, h, body = al.get(s, path, token=s.token)
    p = Page()
    text = body.decode("utf-8", "replace")
    p.feed(text)
    return status, h, text, p


def report(domain, days_ago, ok, failed, org="Mail Provider", rid="r1", mx="mx.example.net"):
    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - days_ago * 86400))
    end = time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(time.time() - days_ago * 86400))
    fd = [{"result-type": "certificate-expired", "receiving-mx-hostname": mx,
           "failed-session-count": failed}] if failed else []
    return {"organization-name": org, "contact-info": "x@example.net", "report-id": rid,
            "date-range": {"start-datetime": start, "end-datetime": end},
            "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain,
                                     "policy-string": ["version: STSv1"],
                                     "mx-host": ["mx.example.net"]},
                          "summary": {"total-successful-session-count": ok,
                                      "total-failure-session-count": failed},
                          "failure-details": fd}]}


def store_check(db, domain, dns_id, findings):
    """A self-check row as serve stores it, with the checker's JSON and the finding rows."""
    errors = sum(1 for f in findings if f["severity"] == "error")
    warnings = sum(1 for f in findings if f["severity"] == "warning")
    res = {"version": 1, "domains": [{"domain": domain, "verdict": "error" if errors else "ok",
                                      "findings": findings}]}
    c = sqlite3.connect(db, timeout=10)
    cur = c.execute("INSERT INTO checks (domain, started, duration_ms, status, errors, warnings, "
                    "infos, dns_id, result) VALUES (?, ?, 120, ?, ?, ?, 0, ?, ?)",
                    (domain, int(time.time()) - 60, 2 if errors else 0, errors, warnings, dns_id,
                     json.dumps(res)))
    for f in findings:
        c.execute("INSERT INTO check_findings (check_id, finding, severity, subject, message) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (cur.lastrowid, f["id"], f["severity"], f["subject"], f["message"]))
    c.commit()
    c.close()


def main(t):
    tmp = st.tempdir("stsd-pages-")
    ca = st.TestCA(os.path.join(tmp, "ca"))
    healthy = ["a%03d.test" % i for i in range(55)] + ["z%03d.test" % i for i in range(55)]
    attention = {"fail.test": "sessions", "cert.test": "cert", "stale.test": "stale-id",
                 "check.test": "check"}
    domains = sorted(healthy + list(attention))
    pols = {d: policy("mx." + d) for d in domains}
    pols["z000.test"] = pols["z000.test"].replace("enforce", "testing")
    pols["z001.test"] = "version: STSv1\nmode: none\nmax_age: 86400\n"
    broken = "broken.test"  # never parsed: line 2 is no mode
    pols[broken] = "version: STSv1\nmode: bogus\nmx: mx.broken.test\nmax_age: 86400\n"
    hosted = sorted(domains + [broken])
    # one certificate for every name but cert.test (5 days left): found through its SANs
    bulk = ca.issue("mta-sts.a000.test", sans=["mta-sts." + d for d in hosted
                                               if d != "cert.test"], days=90, name="bulk")
    soon = ca.issue("mta-sts.cert.test", days=5, name="soon")
    s = al.start(policies=pols, certs={"mta-sts.a000.test": bulk, "mta-sts.cert.test": soon},
                 ingest=False)
    files = []
    for i, r in enumerate([report("fail.test", 3, 90, 7, org=EVIL, rid="f1",
                                  mx="<b>mx</b>.fail.test"),
                           report("a001.test", 45, 10, 5, rid="old"),  # outside 30 days
                           report("z054.test", 2, 50, 0, rid="z")]):
        files.append(os.path.join(tmp, "r%d.json" % i))
        with open(files[-1], "w") as f:
            json.dump(r, f)
    r = st.run([al.STSD, "-c", s.config, "reports", "ingest"] + files, timeout=60)
    t.ok(r.returncode == 0, "reports ingested", r.err)

    status, api = al.get_json(s, "/api/v1/domains")
    t.is_(status, 200, "GET /api/v1/domains")
    ids = {d["domain"]: (d.get("served") or {}).get("policy_id") for d in api["domains"]}
    t.is_(sorted(ids), hosted, "the API lists every hosted domain")
    t.ok(all(ids[d] for d in domains) and ids[broken] is None,
         "every domain has a served id but the broken one", ids.get(broken))
    db = os.path.join(s.state_dir, "stsd.db")
    ok_finding = [{"id": "sts.policy.mode", "severity": "info", "subject": "x", "message": "m",
                   "fix": "f"}]
    for d in domains:
        if d == "stale.test":
            store_check(db, d, "20200101T000000", ok_finding)
        elif d == "check.test":
            store_check(db, d, ids[d], [
                {"id": "mx.cert.expired", "severity": "error", "subject": "mx.check.test[" + EVIL
                 + "]", "message": "the certificate expired " + EVIL,
                 "fix": "renew the certificate of mx.check.test"},
                {"id": "rpt.txt.missing", "severity": "warning", "subject": "_smtp._tls.check.test",
                 "message": "no TLS-RPT record", "fix": "publish _smtp._tls.check.test TXT"}])
        elif not d.startswith("z0"):  # the z domains were never checked
            store_check(db, d, ids[d], ok_finding)

    # --- the overview --------------------------------------------------------------------
    status, h, text, p = page(s, "/")
    t.is_(status, 200, "overview: 200")
    t.ok(h.get("content-type", "").startswith("text/html"), "overview: HTML")
    t.ok("default-src 'none'" in h.get("content-security-policy", ""), "overview: CSP")
    t.ok("script" not in p.tags, "overview: no script")
    t.is_(len(p.rows), 50, "overview: 50 rows on the first page")
    t.is_(p.rows[0], (broken, "file"), "the never-parsed file comes first: broken policy file")
    t.ok(re.search(r'data-domain="broken\.test"[^\n]*?<span class="badge warn">broken policy '
                   r'file</span>', text) is not None, "with the badge")
    t.is_(p.rows[1:5], sorted(attention.items()),
          "then the 4 domains that need attention (by name), each with its reason")
    t.ok(all(a == "" for _, a in p.rows[5:]), "then healthy domains only", p.rows[5:8])
    t.is_([d for d, _ in p.rows[5:]], healthy[:45], "healthy domains in name order")
    t.is_((p.cards.get("domains"), p.cards.get("attention"), p.cards.get("sessions"),
           p.cards.get("cert"), p.cards.get("stale-id"), p.cards.get("check"),
           p.cards.get("file")),
          (str(len(hosted)), "5", "1", "1", "1", "1", "1"),
          "totals: domains and attention counts, the broken file among them")
    modes = dict(re.findall(r'data-domain="([^"]+)"[^\n]*?<td class="mode">([^<]*)</td>', text))
    t.is_(len(modes), 50, "a mode cell in every row")
    t.is_((modes[broken], modes["check.test"], modes["a000.test"]), ("-", "enforce", "enforce"),
          "modes: - for the broken file, enforce")
    t.is_((p.cards.get("reports"), p.cards.get("failed"), p.cards.get("successful")),
          ("2", "7", "140"), "totals: reports of the last 30 days (the 45-day-old one is out)")
    t.is_(p.pager, (1, 3), "pager: page 1 of 3")
    t.ok("/?page=2" in p.links, "pager links to page 2", [l for l in p.links if "page" in l])
    t.ok(len(text) < 200 * 1024, "overview under 200 KB (%d bytes)" % len(text))

    seen = []
    for n in (1, 2, 3):
        status, h, text, p = page(s, "/?page=%d" % n)
        seen += [d for d, _ in p.rows]
        t.is_(p.pager, (n, 3), "page %d: pager says page %d of 3" % (n, n))
    t.is_(len(seen), len(hosted), "3 pages hold 115 rows")
    t.is_(sorted(seen), hosted, "every domain exactly once over the pages")
    status, h, text, p = page(s, "/?page=99")
    t.is_(p.pager, (3, 3), "a page past the end shows the last page")

    # --- search ---------------------------------------------------------------------------
    status, h, text, p = page(s, "/?q=A01")
    t.is_([d for d, _ in p.rows], ["a%03d.test" % i for i in range(10, 20)],
          "?q=A01: the 10 domains containing a01, case-insensitive")
    status, h, text, p = page(s, "/?q=.test&page=2")
    t.is_(p.pager, (2, 3), "search keeps paging")
    t.ok("/?q=.test&page=3" in p.links, "paging links keep the search",
         [l for l in p.links if "page" in l])
    status, h, text, p = page(s, "/?q=" + urllib.parse.quote(EVIL))
    t.is_(p.rows, [], "a search with HTML in it matches nothing")
    t.ok('<img src=x' not in text and "&lt;img src=x id=&quot;evil&quot;&gt;" in text,
         "and the search box shows it as text")
    status, h, text, p = page(s, "/?q=fail")
    t.is_(p.rows, [("fail.test", "sessions")], "?q=fail: fail.test with its reason")
    status, h, text, p = page(s, "/?q=BROKEN")
    t.is_(p.rows, [(broken, "file")], "?q=BROKEN: the never-parsed file")
    status, h, text, p = page(s, "/?q=z00")
    modes = dict(re.findall(r'data-domain="([^"]+)"[^\n]*?<td class="mode">([^<]*)</td>', text))
    t.is_((modes.get("z000.test"), modes.get("z001.test"), modes.get("z002.test")),
          ("testing", "none", "enforce"), "modes: testing, none, enforce as served")
    status, h, body = al.get(s, "/?bogus=1", token=s.token)
    t.is_(status, 400, "an unknown parameter: 400")

    # --- a domain page --------------------------------------------------------------------
    t0 = int(time.time())
    status, h, text, p = page(s, "/domains/check.test")
    t1 = int(time.time())
    t.is_(status, 200, "/domains/check.test: 200")
    t.ok(policy("mx.check.test").replace("\n", "") in re.sub(r"\r?\n", "", text),
         "the policy text")
    t.is_(p.cards.get("served"), ids["check.test"], "the id served")
    t.is_(p.cards.get("policy_id"), ids["check.test"], "the id recorded for the file")
    t.is_(p.cards.get("dns"), ids["check.test"], "the DNS id of the latest check")
    t.is_(p.cards.get("mode"), "enforce", "the mode")
    t.ok(p.cards.get("issuer", "").endswith("CN=stsd test CA"), "certificate issuer",
         p.cards.get("issuer"))
    na = calendar.timegm(time.strptime(p.cards.get("not_after", "1970-01-01T00:00:00Z"),
                                       "%Y-%m-%dT%H:%M:%SZ"))
    t.ok(abs(na - (t0 + 89 * 86400)) < 120, "certificate not-after: the bulk certificate's",
         p.cards.get("not_after"))
    left = {str((na - t) // 86400) for t in (t0, t1)}
    t.ok(p.cards.get("days_left") in left, "certificate days left: whole days to not-after",
         (p.cards.get("days_left"), left))
    t.ok(p.cards.get("cert_days") in left, "certificate days left card")
    t.is_([(f["id"], f["severity"], f["subject"], f.get("fix")) for f in p.findings],
          [("mx.cert.expired", "error", "mx.check.test[" + EVIL + "]",
            "renew the certificate of mx.check.test"),
           ("rpt.txt.missing", "warning", "_smtp._tls.check.test",
            "publish _smtp._tls.check.test TXT")],
          "every finding of the latest check with severity, subject and fix")
    t.ok('<img src=x' not in text, "a hostile finding subject and message stay text")
    t.ok('_mta-sts.check.test. IN TXT "v=STSv1; id=%s"' % ids["check.test"] in text,
         "the DNS record to publish")

    status, h, text, p = page(s, "/domains/stale.test")
    t.ok(p.cards.get("dns", "").startswith("stale: 20200101T000000"), "stale.test: stale DNS id",
         p.cards.get("dns"))
    status, h, text, p = page(s, "/domains/cert.test")
    t.ok(p.cards.get("cert_days") in ("3", "4"), "cert.test: 3 or 4 whole days left (4 days "
         "from when it was made)", p.cards.get("cert_days"))
    status, h, text, p = page(s, "/domains/FAIL.test.")
    t.is_(status, 200, "a domain page by any case and a trailing dot")
    t.is_((p.cards.get("reports"), p.cards.get("successful"), p.cards.get("failed")),
          ("1", "90", "7"), "fail.test: the report numbers of the last 30 days")
    t.ok({"chart days", "chart by-result", "chart by-mx", "chart by-reporter"} <=
         set(re.findall(r'<svg class="(chart [a-z-]+)"', text)), "fail.test: the charts")
    t.ok('<img src=x' not in text and "<b>mx</b>" not in text and
         "&lt;img src=x id=&quot;evil&quot;&gt;" in text,
         "a hostile reporter and MX name stay text")
    status, h, text, p = page(s, "/domains/" + broken)
    t.is_(status, 200, "/domains/broken.test: 200")
    m = re.search(r'<p class="bad" id="file-error">(.*?)</p>', text)
    want = ("The policy file <code>%s</code> line 2: " %
            os.path.join(s.policy_dir, broken + ".txt"))
    t.ok(m is not None and m.group(1).startswith(want) and "mode" in m.group(1) and
         "nothing is served for it" in m.group(1), "its page shows the file, line and reason",
         m.group(1) if m else text[:300])
    t.is_(p.cards.get("served"), "nothing (404)", "and that nothing is served")
    status, h, text, p = page(s, "/domains/not-hosted.test")
    t.is_(status, 404, "a domain that is not hosted: 404")
    t.ok("/check?domain=not-hosted.test" in p.links, "with a link to the checker")
    status, h, text, p = page(s, "/domains/bad_name!")
    t.is_(status, 400, "not a domain name: 400")
    # --- the checker page without a network: the form, and a name that is no domain
    status, h, text, p = page(s, "/check")
    t.ok(status == 200 and 'action="/check"' in text and p.findings == [],
         "/check: the form, nothing checked")
    status, h, text, p = page(s, "/check?domain=" + urllib.parse.quote(EVIL))
    t.is_([(f["id"], f["severity"]) for f in p.findings], [("check.input", "error")],
          "/check?domain=<not a domain>: the checker's check.input finding")
    t.ok("<img src=x" not in text and "default-src 'none'" in
         h.get("content-security-policy", ""), "and the name stays text")
    build = os.environ.get("STSD_BUILD_ROOT", tmp)
    shot = os.path.join(build, "dashboard-overview.png")
    if os.path.exists(shot):
        os.unlink(shot)
    al.chromium(["--screenshot=" + shot, "--window-size=1100,1000", "--hide-scrollbars",
                 "http://127.0.0.1:%d/?token=%s" % (s.admin_port, s.token)])
    t.is_(al.png_size(shot) if os.path.exists(shot) else None, (1100, 1000),
          "a screenshot of the overview in Chromium")
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
