#!/usr/bin/env python3
"""test_acme_renew.py - renewal under load. serve hosts a.test with a certificate from the test
CA valid 60 days (outside [acme] renew_before = 30d: nothing is ordered). While h2load fetches
the policy — one run whose connections stay open across the change (HTTP/2) and back-to-back
short runs that make new TLS handshakes all the time (HTTP/1.1 and HTTP/2) — the operator drops
in a test-CA certificate that expires in 2 days (inside renew_before): serve orders from pebble
(http-01) and serves the new certificate from the next handshake. Measured: every h2load run
reports 0 failed / 0 errored / 0 timeout and only 2xx; the served serial goes from the test
CA's to a new one issued by pebble, and the pebble serial is the one in <cert_dir>/mta-sts.a.test.pem;
exactly one order was made. Done twice: with http-01, and with tls-alpn-01, whose validation
handshakes come in on the very listener under load. Then renew_before longer than pebble's certificates live: one
order, a warning, no loop."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
from acmelib import pl, st  # noqa: E402

D = "a.test"
HOST = "mta-sts." + D


def h2load_cmd(s, extra):
    return (["h2load", "--connect-to=127.0.0.1:%d" % s.port, "-t", "1"] + extra +
            ["https://%s:%d/.well-known/mta-sts.txt" % (HOST, s.port)])


def install_atomic(leaf, cert_dir):
    """<cert_dir>/mta-sts.a.test.pem replaced by rename (what an operator's deploy script does)."""
    p = os.path.join(cert_dir, HOST + ".pem")
    tmp = os.path.join(cert_dir, ".tmp-" + HOST)
    with open(tmp, "wb") as f:
        f.write(open(leaf["pem"], "rb").read())
    os.chmod(tmp, 0o600)
    os.rename(tmp, p)


def main(t):
    ca = st.TestCA(st.tempdir("stsd-ca-"))
    p80, p443 = st.free_port(), st.free_port()
    pb = pl.Pebble(http_port=p80, tls_port=p443).start()
    renew_under_load(t, ca, pb, "http-01", None, "127.0.0.1:%d" % p80)
    # tls-alpn-01: the CA's validation handshakes come in on the listener under load
    renew_under_load(t, ca, pb, "tls-alpn-01", p443, None)
    short_lived(t, pb, p80)


class Prefixed:
    """The Tap t with every check's text prefixed (the same checks run once per challenge)."""

    def __init__(self, t, prefix):
        self.t, self.prefix = t, prefix

    def ok(self, cond, what, diag=None):
        return self.t.ok(cond, self.prefix + what, diag)

    def is_(self, got, want, what):
        return self.t.is_(got, want, self.prefix + what)

    def diag(self, text):
        self.t.diag(text)


def renew_under_load(t, ca, pb, challenge, listen_port, http_listen):
    t = Prefixed(t, challenge + ": ")
    long_leaf = ca.issue(HOST, days=60, name="long-" + challenge)
    short_leaf = ca.issue(HOST, days=2, name="short-" + challenge)
    s = al.serve([D], pb.acme_config(challenge, http_listen, extra="renew_before = 30d"),
                 certs={HOST: long_leaf}, admin=False, listen_port=listen_port)
    serial_long = pl.cert_info(open(long_leaf["cert"], "rb").read())["serial"]
    serial_short = pl.cert_info(open(short_leaf["cert"], "rb").read())["serial"]
    got = pl.served_cert(s.port, HOST)
    t.is_(got and got["serial"], serial_long, "at start the 60-day test-CA certificate is served")
    acct = al.wait_event(s, "acme.account", timeout=20)
    t.ok(acct is not None, "the scheduler registered its account", s.log()[-2000:])

    # the long run: HTTP/2 connections opened now and kept across the change
    long_run = subprocess.Popen(h2load_cmd(s, ["-D", "12", "-c", "4", "-m", "2"]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    st.Cleanup.add(lambda: long_run.poll() is None and long_run.kill())
    # short runs back to back: new handshakes before, during and after the change
    short_results = []
    stop = threading.Event()

    def shorts():
        i = 0
        while not stop.is_set():
            extra = ["-n", "60", "-c", "6", "-m", "1"] + (["--h1"] if i % 2 else [])
            r = st.run(h2load_cmd(s, extra), timeout=60)
            short_results.append((extra, st.parse_h2load(r.out), r.out))
            i += 1
            stop.wait(0.1)  # leave the CPU to serve and pebble now and then

    th = threading.Thread(target=shorts, daemon=True)
    th.start()
    time.sleep(1.0)
    t.is_(al.events(s, "acme.order.start"), [],
          "no order while the certificate is outside renew_before")
    install_atomic(short_leaf, s.cert_dir)
    seen_short = al.wait(lambda: (pl.served_cert(s.port, HOST) or {}).get("serial") ==
                         serial_short, 10, 0.05)
    t0 = time.monotonic()
    new = pl.wait_served_by(pb, s.port, HOST, timeout=30)
    t.ok(new is not None, "the 2-day certificate is replaced by a pebble one within 30 s "
         "(%.1f s)" % (time.monotonic() - t0), "last seen: %r\n%s" % (
             pl.wait_served_by.last, s.log()[-3000:]))
    # let the load run on the new certificate for a while, then stop the short runs
    n_before = len(short_results)
    al.wait(lambda: len(short_results) >= n_before + 4, 20)
    stop.set()
    th.join(60)
    out, _ = long_run.communicate(timeout=60)

    t.diag("the dropped-in 2-day certificate was %s" %
           ("served before the renewal" if seen_short else "replaced too fast to be seen"))
    r = st.parse_h2load(out)
    t.ok(r is not None, "long h2load run printed its summary", out)
    if r:
        t.ok(r["done"] > 50, "long run: %d requests done" % r["done"], out)
        t.is_((r["failed"], r["errored"], r["timeout"], r["3xx"], r["4xx"], r["5xx"]),
              (0, 0, 0, 0, 0, 0), "long run across the renewal: 0 failed/errored/timeout, "
              "only 2xx (%d requests)" % r["done"])
    bad = [(e, x) for e, x, _ in short_results if x is None or
           (x["failed"], x["errored"], x["timeout"], x["done"], x["2xx"]) != (0, 0, 0, 60, 60)]
    t.ok(len(short_results) >= 6 and not bad,
         "%d short h2load runs (new handshakes throughout): every one 60/60 2xx, 0 failed, "
         "0 errored" % len(short_results),
         "\n".join("%r: %r" % b for b in bad[:5]) +
         ("\n" + [o for e, x, o in short_results if x is None or x["failed"] or
                  x["errored"]][0] if bad else ""))
    served = pl.served_cert(s.port, HOST) or {}
    f = pl.cert_info(open(al.cert_file(s, D), "rb").read()) or {}
    t.ok(served.get("serial") not in (None, serial_long, serial_short),
         "afterwards a new serial is served (%s)" % served.get("serial"))
    t.is_(served.get("serial"), f.get("serial"), "it is the serial of mta-sts.a.test.pem")
    ok, vout = pl.verify(pb, al.cert_file(s, D), HOST)
    t.ok(ok, "the file verifies against pebble's root for " + HOST, vout)
    oks = al.events(s, "acme.order.ok")
    t.is_([e.get("domain") for e in oks], [D], "exactly one acme.order.ok (a.test)")
    t.is_(oks[0].get("serial", "").lstrip("0").upper() if oks else None, served.get("serial"),
          "acme.order.ok names the served serial")
    r = al.curl_policy(s, D, pb.root)
    t.is_((r.status, r.body), (200, al.policy_file(s, D)),
          "curl --cacert <pebble root> gets the policy")
    t.is_(s.stop(), 0, "SIGTERM: exit 0")


def short_lived(t, pb, p80):
    """renew_before longer than the CA's certificates live (pebble: 5 years): the new
    certificate is due at once. serve warns (acme.order.short_lived) and waits a day instead of
    ordering again and again."""
    s = al.serve(["long.test"], pb.acme_config("http-01", "127.0.0.1:%d" % p80,
                                               extra="renew_before = 2000d"), admin=False)
    w = al.wait_event(s, "acme.order.short_lived", timeout=30)
    t.ok(w is not None, "short-lived: acme.order.short_lived is logged", s.log()[-2000:])
    if w:
        t.is_((w[0].get("domain"), w[0].get("renew_before")), ("long.test", str(2000 * 86400)),
              "short-lived: it names the domain and renew_before")
    time.sleep(6)  # an absence: more than one of the planner's 5 s passes
    t.is_(len(al.events(s, "acme.order.start")), 1, "short-lived: one order, not a loop")
    t.ok(pl.wait_served_by(pb, s.port, "mta-sts.long.test", 5) is not None,
         "short-lived: the new certificate is served all the same")
    t.is_(s.stop(), 0, "short-lived: SIGTERM, exit 0")


st.Tap().run(main)
