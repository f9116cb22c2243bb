#!/usr/bin/env python3
"""test_acme_many.py - 100 hosted domains on one start, [acme] concurrency = 4, pebble with
http-01: every domain ends up served with its own pebble certificate, each ordered once, and
no more than 4 orders were ever in flight — counted from the order of the acme.order.start /
acme.order.ok / acme.order.fail lines (each line is written whole by one thread, in the order
the events happen) and from /metrics stsd_acme_orders_in_flight_max. Then 30 more domains
on a second serve stopped (SIGTERM) while its orders are in flight: prompt exit 0, the orders
cancelled, no row left pending, and after a restart the rest are issued, none twice."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
from acmelib import pl, st  # noqa: E402

N = 100
CONCURRENCY = 4


def main(t):
    domains = ["d%03d.test" % i for i in range(N)]
    p80 = st.free_port()
    pb = pl.Pebble(http_port=p80).start()
    t0 = time.monotonic()
    s = al.serve(domains, pb.acme_config("http-01", "127.0.0.1:%d" % p80,
                                         extra="concurrency = %d" % CONCURRENCY))
    done = al.wait(lambda: len({e.get("domain") for e in al.events(s, "acme.order.ok")}) >= N,
                   180, 0.5)
    took = time.monotonic() - t0
    oks = al.events(s, "acme.order.ok")
    t.ok(done, "acme.order.ok for all %d domains (%d seen) in %.1f s" % (
        N, len({e.get("domain") for e in oks}), took), s.log()[-3000:])
    t.is_(sorted(e.get("domain") for e in oks), domains, "each domain ordered successfully once")

    # concurrency from the log's order
    inflight, peak, bad = set(), 0, []
    for e in al.events(s, prefix="acme.order."):
        d, ev = e.get("domain"), e.get("event")
        if ev == "acme.order.start":
            if d in inflight:
                bad.append("second start while in flight: " + d)
            inflight.add(d)
            peak = max(peak, len(inflight))
        elif ev in ("acme.order.ok", "acme.order.fail"):
            if d not in inflight:
                bad.append("%s without a start: %s" % (ev, d))
            inflight.discard(d)
    t.is_(bad, [], "every order's lines pair up: start, then ok or fail")
    t.ok(peak <= CONCURRENCY, "the log shows at most %d orders in flight (peak %d)" %
         (CONCURRENCY, peak))
    t.is_(peak, CONCURRENCY, "and the bound was reached (the orders did run in parallel)")
    fails = al.events(s, "acme.order.fail")
    t.ok(len(fails) == 0, "no order failed (%d)" % len(fails), fails[:5])

    m = al.metrics(s)
    mx = al.metric(m, "stsd_acme_orders_in_flight_max")
    t.ok(mx is not None and 1 <= mx <= CONCURRENCY,
         "/metrics stsd_acme_orders_in_flight_max %s <= %d" % (mx, CONCURRENCY))
    t.is_(al.metric(m, "stsd_acme_orders_total", result="ok"), float(N),
          "/metrics stsd_acme_orders_total{result=\"ok\"} %d" % N)
    t.is_(al.metric(m, "stsd_acme_orders_in_flight"), 0.0, "/metrics: none in flight at the end")
    days = [al.metric(m, "stsd_certificate_days_left", domain=d) for d in domains]
    t.ok(all(v is not None and v > 365 for v in days),
         "/metrics stsd_certificate_days_left for every domain (pebble: 5 years)",
         [(d, v) for d, v in zip(domains, days) if v is None or v <= 365][:5])

    # every name is served with its own pebble certificate
    issuer = pl.cert_info(open(pb.intermediate, "rb").read())["subject"]
    wrong = []
    serials = set()
    for d in domains:
        c = pl.served_cert(s.port, "mta-sts." + d) or {}
        serials.add(c.get("serial"))
        if c.get("issuer") != issuer or c.get("sans") != ["mta-sts." + d]:
            wrong.append((d, c.get("issuer"), c.get("sans")))
    t.is_(wrong, [], "all %d names are served with a pebble certificate for exactly that name"
          % N)
    t.is_(len(serials), N, "%d different serials" % N)
    for d in (domains[0], domains[-1]):
        r = al.curl_policy(s, d, pb.root)
        t.is_((r.status, r.body), (200, al.policy_file(s, d)),
              "curl --cacert <pebble root> gets the policy of " + d)
    t.is_(s.stop(), 0, "SIGTERM: exit 0")
    stop_mid_order(t, pb, p80)


def stop_mid_order(t, pb, p80):
    """SIGTERM while orders are in flight: serve stops promptly (exit 0), the orders under way
    are cancelled (acme.order.cancelled), no acme_state row is left "pending", and after a
    restart every remaining domain is ordered and each domain's certificate is issued once."""
    domains = ["e%03d.test" % i for i in range(30)]
    s = al.serve(domains, pb.acme_config("http-01", "127.0.0.1:%d" % p80,
                                         extra="concurrency = %d" % CONCURRENCY))
    got = al.wait_event(s, "acme.order.ok", count=2, timeout=60)
    t.ok(got is not None, "stop: two orders done, others in flight", s.log()[-2000:])
    t0 = time.monotonic()
    rc = s.stop(timeout=15)
    took = time.monotonic() - t0
    t.ok(rc == 0 and took < 5, "stop: SIGTERM mid-order: exit %r after %.1f s (limit 5 s)" %
         (rc, took))
    cancelled = al.events(s, "acme.order.cancelled")
    starts = al.events(s, "acme.order.start")
    ends = al.events(s, "acme.order.ok") + al.events(s, "acme.order.fail") + cancelled
    t.is_(len(starts), len(ends), "stop: every order started ended (ok, fail or cancelled: %d "
          "cancelled)" % len(cancelled))
    lst = al.certs_list(s) or {}
    pending = [e.get("domain") for e in lst.get("certificates", [])
               if (e.get("acme") or {}).get("state") == "pending"]
    t.ok(pending == [], "stop: no acme_state row left pending (%r)" % pending, al.certs_list.last)
    issued_before = {e.get("domain") for e in al.events(s, "acme.order.ok")}
    al.start_serve(s)
    done = al.wait(lambda: {e.get("domain") for e in al.events(s, "acme.order.ok")} >=
                   set(domains), 90, 0.5)
    t.ok(done, "stop: after the restart all %d domains are issued" % len(domains),
         s.log()[-2000:])
    again = [e.get("domain") for e in al.events(s, "acme.order.ok", this_run=True)
             if e.get("domain") in issued_before]
    t.is_(again, [], "stop: no domain issued before the stop is ordered again")
    t.is_(al.events(s, "acme.order.fail"), [], "stop: no order failed")
    t.is_(s.stop(), 0, "stop: SIGTERM, exit 0")


st.Tap().run(main)
