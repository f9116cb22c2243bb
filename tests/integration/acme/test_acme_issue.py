#!/usr/bin/env python3
"""test_acme_issue.py - `stsd serve` gets its mta-sts certificates from Debian's pebble, which
validates for real (challtestsrv's DNS sends it to 127.0.0.1):

  http-01      serve A answers on its port-80 listener ([acme] http_listen = pebble's httpPort)
  tls-alpn-01  serve B answers acme-tls/1 on its TLS listener (= pebble's tlsPort)

For each: the hosted domain's certificate is pebble's (issuer = pebble's intermediate, SAN =
mta-sts.<d>), `curl --cacert <pebble root>` fetches the policy (the exact file) while a name the
serve has no certificate for fails the same curl, <cert_dir>/mta-sts.<d>.pem is 0600 and
`openssl verify` accepts it for the name. Then domains added while serve runs — with
`stsd policy set` (A and B) and with the admin API's PUT /api/v1/domains/<d>/policy (A) — are
served with a pebble certificate within 30 s, without a restart (same pid, no second
serve.ready). Finally /metrics counts exactly the orders that succeeded."""

import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
from acmelib import pl, st  # noqa: E402


def check_issued(t, pb, s, d, label, t0=None):
    """The certificate served for mta-sts.<d> is pebble's; curl with pebble's root alone gets
    the exact policy; the file is 0600 and verifies for the name."""
    host = "mta-sts." + d
    got = pl.wait_served_by(pb, s.port, host, timeout=30)
    if t0 is not None:
        t.ok(got is not None, "%s: %s served with a pebble certificate %.1f s after it was "
             "added (limit 30 s)" % (label, host, time.monotonic() - t0),
             "last seen: %r\n%s" % (pl.wait_served_by.last, s.log()[-3000:]))
    else:
        t.ok(got is not None, "%s: %s served with a pebble certificate" % (label, host),
             "last seen: %r\n%s" % (pl.wait_served_by.last, s.log()[-3000:]))
    got = got or {}
    t.is_(got.get("sans"), [host], "%s: its subjectAltName is exactly %s" % (label, host))
    r = al.curl_policy(s, d, pb.root)
    t.is_((r.rc, r.status, r.body), (0, 200, al.policy_file(s, d)),
          "%s: curl --cacert <pebble root> gets the policy of %s" % (label, d))
    f = al.cert_file(s, d)
    mode = stat.S_IMODE(os.stat(f).st_mode) if os.path.exists(f) else None
    t.is_(mode, 0o600, "%s: %s exists, mode 0600" % (label, os.path.basename(f)))
    if mode is not None:
        ok, out = pl.verify(pb, f, host)
        t.ok(ok, "%s: openssl verify accepts the file's chain for %s" % (label, host), out)
        info = pl.cert_info(open(f, "rb").read())
        t.is_(info and info.get("serial"), got.get("serial"),
              "%s: the served certificate is the file's (same serial)" % label)


def main(t):
    p80, p443 = st.free_port(), st.free_port()
    pb = pl.Pebble(http_port=p80, tls_port=p443).start()

    a = al.serve(["a.test"], pb.acme_config("http-01", "127.0.0.1:%d" % p80))
    b = al.serve(["b.test"], pb.acme_config("tls-alpn-01"), listen_port=p443)
    pid_a, pid_b = a.proc.pid, b.proc.pid

    # negative control: the same curl fails for a name the serve has no certificate for
    r = al.curl_policy(a, "b.test", pb.root)
    t.ok(r.rc != 0 and r.status == 0,
         "control: curl --cacert <pebble root> fails for a name serve A has no certificate for",
         repr(r))

    check_issued(t, pb, a, "a.test", "http-01")
    check_issued(t, pb, b, "b.test", "tls-alpn-01")
    acct = al.events(a, "acme.account")
    t.is_([e.get("created") for e in acct], ["1"], "http-01: one acme.account event, created=1")

    # --- added while running: stsd policy set (A: http-01, B: tls-alpn-01) -----------------
    for s, d, label in ((a, "c.test", "http-01"), (b, "e.test", "tls-alpn-01")):
        r = al.curl_policy(s, d, pb.root)
        t.ok(r.rc != 0 and r.status == 0, "%s: before `policy set`, curl for mta-sts.%s fails"
             % (label, d), repr(r))
        t0 = time.monotonic()
        r = al.cli(s, "policy", "set", d, "--mode", "testing", "--mx", "mail." + d,
                   "--max-age", "86400")
        t.is_(r.returncode, 0, "%s: stsd policy set %s" % (label, d))
        check_issued(t, pb, s, d, label + " (policy set)", t0)

    # --- added while running: the admin API --------------------------------------------------
    d = "d.test"
    r = al.curl_policy(a, d, pb.root)
    t.ok(r.rc != 0 and r.status == 0, "API: before the PUT, curl for mta-sts.%s fails" % d,
         repr(r))
    t0 = time.monotonic()
    r = st.curl("http://127.0.0.1:%d/api/v1/domains/%s/policy" % (a.admin_port, d),
                method="PUT",
                data=json.dumps({"mode": "testing", "mx": ["mail." + d],
                                 "max_age": 86400}).encode(),
                headers=["Authorization: Bearer " + a.token,
                         "Content-Type: application/json"])
    t.is_(r.status, 201, "API: PUT /api/v1/domains/%s/policy: 201" % d)
    check_issued(t, pb, a, d, "API", t0)

    # --- no restart, nothing extra ------------------------------------------------------------
    for s, pid, label in ((a, pid_a, "A"), (b, pid_b, "B")):
        t.ok(s.proc.poll() is None and s.proc.pid == pid, "serve %s still runs (same pid)" % label)
        t.is_(s.log().count("event=serve.ready"), 1, "serve %s: one serve.ready (no restart)"
              % label)
    oks_a = sorted(e.get("domain") for e in al.events(a, "acme.order.ok"))
    oks_b = sorted(e.get("domain") for e in al.events(b, "acme.order.ok"))
    t.is_(oks_a, ["a.test", "c.test", "d.test"], "serve A: acme.order.ok for a, c, d once each")
    t.is_(oks_b, ["b.test", "e.test"], "serve B: acme.order.ok for b, e once each")
    m = al.metrics(a)
    t.is_(al.metric(m, "stsd_acme_orders_total", result="ok"), 3.0,
          "serve A /metrics: stsd_acme_orders_total{result=\"ok\"} 3")
    t.is_(al.metric(m, "stsd_acme_enabled"), 1.0, "serve A /metrics: stsd_acme_enabled 1")
    t.is_(a.stop(), 0, "serve A: SIGTERM, exit 0")
    t.is_(b.stop(), 0, "serve B: SIGTERM, exit 0")


st.Tap().run(main)
