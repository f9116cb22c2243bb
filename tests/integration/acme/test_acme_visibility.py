#!/usr/bin/env python3
"""test_acme_visibility.py - what `stsd serve` shows of its ACME orders when they fail, and
once they succeed again.

[acme] directory points at a closed loopback port (pebble's, before pebble starts: the CA is
down), so every order fails with a network error and the scheduler records the failure and
backs off. Two hosted domains: vis.test is served with a certificate from a test CA that
expires in 5 days, nocert.test has none. The test reads, from the real server:

  1. /metrics: stsd_acme_enabled 1, all seven results of stsd_acme_orders_total with
     network >= 1, the in-flight gauges (within the concurrency), vis.test's days left
     (5 +- 0.1) and source "file", nocert.test's source "none" and no days left, the
     consecutive failures and the next attempt of each domain;
  2. the domain page's certificate card: issuer, days left, source, ACME state "failed",
     failures, the last error (the network error) and the next attempt; the overview flags
     vis.test for its certificate and its failing ACME orders;
  3. the webhook: exactly one certificate.renewal_failing body for vis.test (its certificate
     is within [alerts] cert_days and its renewal keeps failing), none for nocert.test (no
     certificate to lapse), still one after several more alert scans;
  4. the CA comes up (Debian's pebble, validating for real against serve's http-01 listener)
     and `stsd certs renew vis.test --force` succeeds: /metrics says source "acme", no
     failures, one order ok; the card says source acme, state ok, no error, the success's
     time and pebble's issuer; the overview no longer flags vis.test; no second alert.
"""

import calendar
import html.parser
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "admin"))
sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import adminlib as al  # noqa: E402
import pebblelib as pl  # noqa: E402
from adminlib import st  # noqa: E402

D, NOCERT = "vis.test", "nocert.test"
POLICY = "version: STSv1\nmode: testing\nmx: mail.%s\nmax_age: 86400\n"
CONCURRENCY = 4  # the [acme] concurrency default
RESULTS = ("ok", "network", "rate_limited", "challenge", "ca", "protocol", "local")


def metrics(s):
    status, _, body = al.get(s, "/metrics", token=s.token)
    series = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            series[k] = float(v)
    return status, series


class Card(html.parser.HTMLParser):
    """The text of every <td data-k=...> of the page, and the data-attention of each row."""

    def __init__(self):
        super().__init__()
        self.cells, self.attention, self._k = {}, {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-k" in a:
            self._k = a["data-k"]
            self.cells[self._k] = ""
        if tag == "tr" and "data-attention" in a:
            self.attention[a.get("data-domain")] = a["data-attention"].split()

    def handle_endtag(self, tag):
        if tag == "td":
            self._k = None

    def handle_data(self, data):
        if self._k is not None:
            self.cells[self._k] += data


def page(s, path):
    status, _, body = al.get(s, path, token=s.token)
    p = Card()
    p.feed(body.decode())
    return status, p


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def main(t):
    ca = st.TestCA(st.tempdir("stsd-acmevis-ca-"))
    leaf = ca.issue("mta-sts." + D, days=6)  # from yesterday: 5 days left
    # pebble's DNS runs, pebble itself not yet: its directory's port is closed (the CA is down)
    pb = pl.Pebble(http_port=st.free_port())
    pb.start_dns()
    hook_port = st.free_port()
    rec = al.Receiver(hook_port)
    extra = (pb.acme_config("http-01") + "[alerts]\nwebhook = http://127.0.0.1:%d/hook\n"
             "cert_days = 14\n[checks]\nallow_private = on\n" % hook_port)
    s = st.Stsd(policies={D: POLICY % D, NOCERT: POLICY % NOCERT},
                certs={"mta-sts." + D: leaf}, admin=True, extra_config=extra)
    t0 = time.time()
    s.start()
    with open(os.path.join(s.state_dir, "admin.token")) as f:
        s.token = f.read().strip()

    # --- 1. /metrics ---------------------------------------------------------------------
    deadline = time.monotonic() + 30
    series = {}
    while time.monotonic() < deadline:
        status, series = metrics(s)
        if (series.get('stsd_acme_orders_total{result="network"}', 0) >= 1 and
                series.get('stsd_acme_failures{domain="%s"}' % D, 0) >= 1 and
                series.get('stsd_acme_failures{domain="%s"}' % NOCERT, 0) >= 1):
            break
        time.sleep(0.5)
    t.is_(status, 200, "/metrics answers")
    t.is_(series.get("stsd_acme_enabled"), 1.0, "stsd_acme_enabled 1")
    t.is_(sorted(k for k in series if k.startswith("stsd_acme_orders_total{")),
          sorted('stsd_acme_orders_total{result="%s"}' % r for r in RESULTS),
          "stsd_acme_orders_total has all seven results")
    net = series.get('stsd_acme_orders_total{result="network"}', 0)
    t.ok(net >= 1, "the failed orders count as network errors (%s)" % net, s.log()[-3000:])
    t.is_(series.get('stsd_acme_orders_total{result="ok"}'), 0.0, "no order succeeded")
    inf, inf_max = (series.get("stsd_acme_orders_in_flight"),
                    series.get("stsd_acme_orders_in_flight_max"))
    t.ok(inf is not None and inf_max is not None and 0 <= inf <= inf_max <= CONCURRENCY,
         "in-flight gauges: %s now, at most %s (concurrency %d)" % (inf, inf_max, CONCURRENCY))
    days = series.get('stsd_certificate_days_left{domain="%s"}' % D)
    t.ok(days is not None and abs(days - 5.0) <= 0.1, "days left of %s: %s" % (D, days))
    t.is_(series.get('stsd_certificate_source{domain="%s",source="file"}' % D), 1.0,
          "%s's certificate is a file's" % D)
    t.is_(series.get('stsd_certificate_source{domain="%s",source="none"}' % NOCERT), 1.0,
          "%s has no certificate" % NOCERT)
    t.ok('stsd_certificate_days_left{domain="%s"}' % NOCERT not in series,
         "no days left without a certificate")
    for d in (D, NOCERT):
        f = series.get('stsd_acme_failures{domain="%s"}' % d, 0)
        t.ok(f >= 1, "consecutive failures of %s: %s" % (d, f))
        nxt = series.get('stsd_acme_next_attempt_timestamp_seconds{domain="%s"}' % d, 0)
        t.ok(t0 < nxt < time.time() + 2 * 86400,
             "%s backs off: next attempt in %.0f s" % (d, nxt - time.time()))

    # --- 2. the dashboard ------------------------------------------------------------------
    status, p = page(s, "/domains/" + D)
    c = p.cells
    t.is_(status, 200, "the domain page answers")
    # whole days, rounded down: 4 (5 only within the second the certificate was made in)
    t.ok((c.get("source"), c.get("acme_state")) == ("file", "failed") and
         c.get("days_left") in ("4", "5"),
         "card: source file, 4 whole days left, ACME state failed", c)
    t.ok("stsd test CA" in c.get("issuer", ""), "card: issuer", c)
    t.ok(int(c.get("acme_failures", "0")) >= 1, "card: consecutive failures", c)
    t.ok(c.get("acme_last_error", "").startswith("network"),
         "card: the last error is the network error", c)
    nxt = c.get("acme_next_attempt", "")
    t.ok(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", nxt) and epoch(nxt) > t0,
         "card: next attempt %s" % nxt, c)
    t.is_(c.get("acme_last_success"), "never", "card: no success yet")
    status, p = page(s, "/domains/" + NOCERT)
    t.is_((status, p.cells.get("source"), "days_left" in p.cells), (200, "none", False),
          "card of a domain without a certificate: source none, no days left")
    status, p = page(s, "/")
    t.ok("acme" in p.attention.get(D, []) and "cert" in p.attention.get(D, []),
         "the overview flags %s: certificate and failing ACME" % D, p.attention)
    t.ok("acme" in p.attention.get(NOCERT, []), "the overview flags %s" % NOCERT, p.attention)

    # --- 3. the alert ----------------------------------------------------------------------
    t.ok(rec.wait("certificate.renewal_failing", timeout=30), "the renewal alert arrives",
         s.log()[-3000:])
    time.sleep(16)  # three more alert scans: still one
    bodies = [c[3] for c in rec.kinds("certificate.renewal_failing")]
    t.ok(len(bodies) == 1, "exactly one renewal alert (%d)" % len(bodies), bodies)
    b = bodies[0] if bodies else {}
    t.ok((b.get("domain"), b.get("name"), b.get("threshold_days")) == (D, "mta-sts." + D, 14)
         and b.get("days_left") in (4, 5),
         "renewal alert: domain, name, days left, threshold", b)
    t.ok(b.get("failures", 0) >= 1 and str(b.get("last_error", "")).startswith("network") and
         str(b.get("next_attempt", "")).endswith("Z"),
         "renewal alert: failures, last error, next attempt", b)
    t.is_(s.log().count("event=alert.renewal_failing"), 1, "logged once")

    # --- 4. the CA is back: a forced renewal succeeds, and everything says so -------------
    pb.start_pebble()
    r = st.run([st.STSD_BIN, "-c", s.config, "certs", "renew", D, "--force", "--wait", "60"],
               timeout=90)
    t.ok(r.returncode == 0, "`stsd certs renew --force` succeeds once the CA answers", r)
    t.ok(pl.wait_served_by(pb, s.port, "mta-sts." + D, timeout=30) is not None,
         "%s is served with pebble's certificate" % D, s.log()[-2000:])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        _, series = metrics(s)
        if series.get('stsd_certificate_source{domain="%s",source="acme"}' % D) == 1.0:
            break
        time.sleep(0.5)
    t.is_((series.get('stsd_certificate_source{domain="%s",source="acme"}' % D),
           series.get('stsd_acme_failures{domain="%s"}' % D),
           series.get('stsd_acme_orders_total{result="ok"}')), (1.0, 0.0, 1.0),
          "/metrics: source acme, no failures, one order ok")
    days = series.get('stsd_certificate_days_left{domain="%s"}' % D)
    t.ok(days is not None and days > 365, "days left of pebble's certificate: %s" % days)
    status, p = page(s, "/domains/" + D)
    c = p.cells
    t.is_((status, c.get("source"), c.get("acme_state"), c.get("acme_failures"),
           c.get("acme_last_error")), (200, "acme", "ok", "0", "none"),
          "card after the renewal: source acme, state ok, no failures, no error")
    t.ok("Pebble" in c.get("issuer", "") and epoch(c.get("acme_last_success", "")) >= int(t0),
         "card: pebble's issuer and the time of the success", c)
    status, p = page(s, "/")
    t.ok("acme" not in p.attention.get(D, []) and "cert" not in p.attention.get(D, []),
         "the overview no longer flags %s" % D, p.attention)
    time.sleep(6)  # one more alert scan
    t.is_(len(rec.kinds("certificate.renewal_failing")), 1, "still one renewal alert")
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
