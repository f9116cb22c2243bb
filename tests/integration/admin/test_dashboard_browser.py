#!/usr/bin/env python3
"""test_dashboard_browser.py - the dashboard in headless Chromium against the checker's test
bed (tests/integration/checker/bed.py: unbound, MX servers with STARTTLS, policy hosts, all
on loopback).

A second `stsd serve` with the admin listener hosts a few of the bed's domains; its [checks]
options point at the bed (resolver, CA, ports, allow_private). Chromium logs in with
/?token= (303 + cookie, followed by the browser), shows the overview and a domain page, and
runs the checker page for bed domains with different faults: the findings on the page (id,
severity, subject) must be exactly those of `stsd check --json` run on the same domains, and
the page must show each MX address's STARTTLS, TLS version and certificate and the policy
fetch. A screenshot of the checker page goes to <build>/dashboard-checker.png.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "checker"))
import adminlib as al  # noqa: E402
import bed as checkbed  # noqa: E402
from adminlib import st  # noqa: E402

# different faults: none, an expired MX certificate, TLS 1.0 only, a policy served as HTML,
# no TLS-RPT record, an MX the policy does not cover
CHECKED = ["good.test", "mx-expired.test", "mx-tls10.test", "p-html.test", "d-norpt.test",
           "p-unmatched.test"]
HOSTED = ["good.test", "p-unmatched.test"]


class Dom(al.Page):
    """Findings rows, MX address cells, the fetch table, the overview rows, data-k cells."""

    def __init__(self):
        super().__init__()
        self.findings = []
        self.rows = []
        self.mx = []  # one dict per MX address row
        self.cells = {}
        self.k = None
        self.tr = None

    def start(self, tag, a):
        if tag == "tr" and a.get("class") == "finding":
            self.findings.append((a["data-id"], a["data-severity"], a["data-subject"]))
        if tag == "tr" and "dom" in a.get("class", "").split():
            self.rows.append((a["data-domain"], a["data-attention"]))
        if tag == "tr" and a.get("class") in ("mxhost", "mxaddr"):
            self.tr = {}
            self.mx.append(self.tr)
        elif tag == "tr":
            self.tr = None
        if "data-k" in a:
            self.k = [a["data-k"], ""]

    def handle_endtag(self, tag):
        if self.k is not None and tag in ("td", "dd", "span"):
            key, v = self.k
            if self.tr is not None:
                self.tr[key] = v.strip()
            else:
                self.cells.setdefault(key, v.strip())
            self.k = None

    def handle_data(self, data):
        if self.k is not None:
            self.k[1] += data


def load(url, what, t):
    rc, out, err = al.chromium(["--dump-dom", url], timeout=120)
    t.ok(rc == 0 and "<html" in out, "chromium loaded %s" % what, err[-1500:])
    d = Dom()
    d.feed(out)
    return d, out


def main(t):
    bed = checkbed.Bed().start()
    cfg = ("[checks]\nresolver = %s\nca_file = %s\nsmtp_port = %d\nhttps_port = %d\n"
           "allow_private = on\n" % (bed.resolver, bed.ca_file, bed.smtp_port, bed.https_port))
    pols = {d: checkbed.dom(d).policy.replace("\r\n", "\n") for d in HOSTED}
    s = al.start(policies=pols, tmp_extra="[checks]\ninterval = off\n" + cfg, ingest=False)
    base = "http://127.0.0.1:%d" % s.admin_port

    over, out = load("%s/?token=%s" % (base, s.token), "the overview (after the 303)", t)
    t.is_(sorted(d for d, _ in over.rows), sorted(HOSTED), "overview: a row per hosted domain")
    t.is_(over.cells.get("domains"), str(len(HOSTED)), "overview: hosted domains total")
    t.ok("script" not in over.tags, "overview: no script")
    t.ok(all(not (l.startswith("http") or l.startswith("//")) for l in over.links),
         "overview: nothing linked on another host", over.links)
    page, out = load("%s/domains/good.test?token=%s" % (base, s.token), "a domain page", t)
    t.is_(page.cells.get("mode"), "enforce", "domain page: the policy mode")
    t.ok("mx: mx1.good.test" in out, "domain page: the policy text")

    r, js, dt = bed.check(CHECKED, timeout=10, extra=["-c", s.config])
    t.ok(js is not None, "stsd check --json ran (%.1f s)" % dt, r.err[-1500:])
    for d in CHECKED:
        want = checkbed.findings_of(js, d) or {}
        want = sorted((f["id"], f["severity"], f["subject"]) for f in want.get("findings", []))
        page, out = load("%s/check?domain=%s&token=%s" % (base, d, s.token),
                         "the checker page of %s" % d, t)
        t.is_(sorted(page.findings), want, "%s: the same findings as stsd check --json" % d)
        t.ok("script" not in page.tags, "%s: no script" % d)
        expect = checkbed.dom(d).expect or {}
        t.ok(all((i, sev) in {(f[0], f[1]) for f in page.findings} for i, sev in expect.items()),
             "%s: the page has the findings the bed is built to cause %s" % (d, expect),
             page.findings)
        probed = [m for m in page.mx if m.get("ip")]
        t.ok(len(probed) > 0 and all("starttls" in m and "tls_version" in m and "verified" in m
                                     and "days_left" in m for m in probed),
             "%s: per MX address STARTTLS, TLS version and certificate" % d, page.mx)
        if d == "good.test":
            t.ok(all(m["starttls"] == "yes" and m["tls_version"] in ("TLSv1.2", "TLSv1.3") and
                     m["verified"] == "yes" and m["name_match"] == "yes" for m in probed),
                 "good.test: every address STARTTLS, TLS 1.2+, verified, name match", probed)
            t.is_((page.cells.get("status"), page.cells.get("content_type", "")[:10],
                   page.cells.get("mode")), ("200", "text/plain", "enforce"),
                  "good.test: the policy fetch (status, content type, mode)")
            t.ok(all(m.get("covered") == "yes" for m in page.mx if "covered" in m),
                 "good.test: every MX covered by the policy")
        if d == "mx-expired.test":
            t.ok(any(m.get("verified") == "no" for m in probed),
                 "mx-expired.test: the certificate is not verified", probed)
        if d == "mx-tls10.test":
            t.ok(any(m.get("tls_version") in ("TLSv1", "TLSv1.0", "TLSv1.1", "-")
                     for m in probed), "mx-tls10.test: the TLS version shown", probed)
        if d == "p-html.test":
            t.ok(page.cells.get("content_type", "").startswith("text/html"),
                 "p-html.test: the content type of the fetch", page.cells)
        if d == "p-unmatched.test":
            t.is_(sorted((m.get("covered"), m.get("ip")) for m in page.mx if "covered" in m),
                  sorted([("yes", "127.0.0.20"), ("no", "127.0.0.21")]),
                  "p-unmatched.test: mx coverage per MX host")

    build = os.environ.get("STSD_BUILD_ROOT", st.tempdir("stsd-shots-"))
    for name, url in (("checker", "%s/check?domain=p-unmatched.test&token=%s" % (base,
                                                                                 s.token)),):
        shot = os.path.join(build, "dashboard-%s.png" % name)
        if os.path.exists(shot):
            os.unlink(shot)
        rc, out, err = al.chromium(["--screenshot=" + shot, "--window-size=1100,1300",
                                 "--hide-scrollbars", url], timeout=120)
        t.is_(al.png_size(shot) if os.path.exists(shot) else None, (1100, 1300),
              "screenshot of the %s page" % name)
    t.is_(s.stop(), 0, "stsd stops cleanly")
    bed.stop()


st.Tap().run(main)
