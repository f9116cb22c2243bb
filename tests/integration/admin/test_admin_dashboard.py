#!/usr/bin/env python3
"""test_admin_dashboard.py - the dashboard ("/" and /domains/{d}) in headless Chromium.

Starts stsd (admin listener on loopback) holding the sample reports plus one report whose
organisation name is HTML, loads the overview and each domain's page in headless Chromium
with ?token= (which sets the cookie), and checks in the DOM Chromium built: the totals, per domain the sessions, the
per-day SVG bars (data attributes), failures by result type, MX and reporter against the
numbers computed here from the JSON files; that the HTML-looking name stays text; that there
is no script and nothing loaded from elsewhere. Screenshots (phone and desktop width) are
written to <build>/admin-dashboard-*.png and checked to be PNGs of the requested width.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

EVIL_ORG = '<b id="evil">Evil & "Co"</b>'


class Dom(al.Page):
    """Collects what the test compares: per domain section, the cards, the day bars and the
    breakdown tables; plus every tag name and src/href seen."""

    def __init__(self):
        super().__init__()
        self.sections = {}
        self.rows = []
        self.cur = None
        self.overview = {}
        self.in_overview = False
        self.card = None
        self.table = None
        self.row = None
        self.cell = None
        self.svgs = []

    def start(self, tag, a):
        if tag == "tr" and "data-domain" in a:
            self.rows.append(a["data-domain"])
        if tag == "section" and "data-domain" in a:
            self.cur = self.sections.setdefault(a["data-domain"], {
                "cards": {}, "days": {}, "tables": {}, "svg": set()})
            self.in_overview = False
        elif tag == "section" and a.get("id") == "overview":
            self.in_overview = True
        if tag == "svg":
            self.svgs.append(a.get("class", ""))
            if self.cur is not None:
                self.cur["svg"].add(a.get("class", ""))
        if tag == "dd" and "data-k" in a:
            self.card = [a["data-k"], ""]
        if tag == "g" and a.get("class") == "day" and self.cur is not None:
            self.cur["days"][a["data-day"]] = [int(a["data-successful"]), int(a["data-failed"])]
        if tag == "table" and self.cur is not None:
            self.table = self.cur["tables"].setdefault(a.get("class", ""), [])
        if tag == "tr" and self.table is not None:
            self.row = []
        if tag == "td" and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "dd" and self.card is not None:
            k, v = self.card
            (self.overview if self.in_overview else self.cur["cards"])[k] = v.strip()
            self.card = None
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        if tag == "tr" and self.row is not None:
            if self.row:
                self.table.append(self.row)
            self.row = None
        if tag == "table":
            self.table = None
        if tag == "section":
            self.cur = None
            self.in_overview = False

    def handle_data(self, data):
        if self.card is not None:
            self.card[1] += data
        if self.cell is not None:
            self.cell += data


def main(t):
    tmp = st.tempdir("stsd-dash-")
    evil = os.path.join(tmp, "evil.json")
    with open(evil, "w") as f:
        json.dump({"organization-name": EVIL_ORG, "contact-info": "x@example.net",
                   "report-id": "evil-1",
                   "date-range": {"start-datetime": "2024-02-20T00:00:00Z",
                                  "end-datetime": "2024-02-20T23:59:59Z"},
                   "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com",
                                            "policy-string": ["version: STSv1"],
                                            "mx-host": ["mail.example.com"]},
                                 "summary": {"total-successful-session-count": 10,
                                             "total-failure-session-count": 2},
                                 "failure-details": [{"result-type": "certificate-expired",
                                                      "receiving-mx-hostname":
                                                      "<i>mx</i>.example.com",
                                                      "failed-session-count": 2}]}]}, f)
    files = al.SAMPLES + [evil]
    s = al.start(ingest=False)
    r = st.run([al.STSD, "-c", s.config, "reports", "ingest"] + files, timeout=60)
    t.ok(r.returncode == 0, "sample reports ingested", r.err)
    exp = al.expected(files)
    url = "http://127.0.0.1:%d/?since=%s&until=%s&token=%s" % (s.admin_port, al.SINCE, al.UNTIL,
                                                              s.token)
    rc, out, err = al.chromium(["--dump-dom", url])
    t.ok(rc == 0 and "<html" in out, "chromium loaded the dashboard", err[-2000:])
    dom = Dom()
    dom.feed(out)
    t.ok("script" not in dom.tags, "no <script> in the page")
    t.ok(all(not (l.startswith("http") or l.startswith("//")) for l in dom.links),
         "nothing loaded from or linked to another host", dom.links)
    t.is_(dom.overview.get("successful"), str(exp["total"]["successful"]),
          "overview: successful sessions")
    t.is_(dom.overview.get("failed"), str(exp["total"]["failed"]), "overview: failed sessions")
    t.is_(dom.overview.get("reports"), str(len(exp["stored"])), "overview: reports")
    t.is_(sorted(dom.rows), sorted(al.POLICIES), "a row per hosted domain")
    for d in al.POLICIES:
        rc, page, err = al.chromium(["--dump-dom", url.replace("/?", "/domains/%s?" % d)])
        t.ok(rc == 0 and "<html" in page, "chromium loaded the page of %s" % d, err[-2000:])
        dom.feed(page)
        out += page
    t.ok("svg" in dom.tags, "the domain pages have inline SVG charts")
    for d, e in exp["domains"].items():
        sec = dom.sections.get(d, {"cards": {}, "days": {}, "tables": {}, "svg": set()})
        c = sec["cards"]
        t.is_((c.get("reports"), c.get("successful"), c.get("failed")),
              (str(e["reports"]), str(e["successful"]), str(e["failed"])),
              "%s: reports, successful and failed sessions" % d)
        rate = e["successful"] / (e["successful"] + e["failed"]) * 100
        t.is_(c.get("rate"), "%.2f%%" % rate, "%s: success rate" % d)
        t.is_(c.get("mode"), al.POLICIES[d].split("mode: ")[1].split("\n")[0],
              "%s: policy mode" % d)
        t.is_(sec["days"], e["days"], "%s: the per-day bars (successful, failed)" % d)
        t.ok({"chart days", "chart by-result", "chart by-mx", "chart by-reporter"} <= sec["svg"],
             "%s: SVG charts per day, by result type, MX and reporter" % d, sec["svg"])
        t.is_({r[0]: int(r[-1]) for r in sec["tables"].get("by-result", [])}, e["by_result"],
              "%s: failures by result type" % d)
        t.is_({r[0]: int(r[-1]) for r in sec["tables"].get("by-mx", [])}, e["by_mx"],
              "%s: failures by receiving MX" % d)
        t.is_({r[0]: [int(x) for x in r[1:]] for r in sec["tables"].get("by-reporter", [])},
              e["by_reporter"], "%s: reporters seen (reports, successful, failed)" % d)
    reporters = dom.sections.get("example.com", {}).get("tables", {}).get("by-reporter", [])
    t.ok(any(r[0] == EVIL_ORG for r in reporters),
         "an organisation name with HTML in it is shown as text", reporters)
    t.ok('<b id="evil">' not in out, "and does not become an element")
    t.ok("<i>mx</i>" not in out, "an MX name with HTML in it is escaped")

    # a wrong token: the browser gets 401, not the page
    rc, out2, err = al.chromium(["--dump-dom", url.replace(s.token, "0" * 64)])
    t.ok("a bearer token is required" not in out2 and "the token does not match" in out2,
         "a wrong ?token= gives the 401 JSON", out2[:300])

    build = os.environ.get("STSD_BUILD_ROOT", tmp)
    for name, size in (("phone", (390, 2400)), ("desktop", (1280, 1600))):
        shot = os.path.join(build, "admin-dashboard-%s.png" % name)
        if os.path.exists(shot):
            os.unlink(shot)
        rc, out, err = al.chromium(["--screenshot=" + shot, "--window-size=%d,%d" % size,
                                 "--hide-scrollbars", url])
        t.is_(al.png_size(shot) if os.path.exists(shot) else None, size,
              "screenshot %s is a %dx%d PNG" % (os.path.basename(shot), size[0], size[1]))
        t.ok(os.path.exists(shot) and os.path.getsize(shot) > 20000,
             "screenshot %s has content" % name)
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
