#!/usr/bin/env python3
"""test_acme_faults.py - what serve does when ordering goes wrong. Four serves run side by side
(to share the waits):

  down    the directory is down at start (pebble not yet running): the failure is logged
          (acme.order.fail status=network or acme.backoff) with next_attempt about 60 s ahead,
          /metrics shows it (orders_total{result="network"}, failures, next attempt); no
          attempt before next_attempt; pebble is then started and, at next_attempt, the
          certificate is issued without any help (recovery).
  closed  the directory is a closed port: a second failure (`stsd certs renew --force`) backs
          off about twice as long (growing next_attempt, log and /metrics).
  429     a fake directory answers newOrder 429 + Retry-After: N + rateLimited: the failure says
          rate_limited and retry_after=N; a forced renewal asked at once still sends no newOrder
          before N s (the fake directory's request times), and does send it soon after.
  chall   pebble's DNS points mta-sts.fail.test at 127.0.0.2 (nothing answers there): the order
          fails with status=challenge, `stsd certs list` shows the error, the old (test-CA)
          certificate stays in place and is still served (serial); another domain of the same
          serve is issued meanwhile. After a restart the account is reused (acme.account
          created=0, same URL, account.key unchanged, 0600) and the failed domain is not ordered
          again before its next_attempt; once DNS is right, `stsd certs renew --force` renews it.
"""

import calendar
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
import fakedir  # noqa: E402
from acmelib import pl, st  # noqa: E402

RETRY_AFTER = 20


def when(v):
    """next_attempt from the log: unix seconds, or an ISO 8601 UTC time."""
    if v is None:
        return None
    if v.isdigit():
        return int(v)
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00"):
        try:
            return calendar.timegm(time.strptime(v, fmt))
        except ValueError:
            pass
    return None


def is_failure(d):
    """Failure events for domain d: acme.order.fail domain=d, and acme.backoff lines (the
    account step, which names no domain or this one)."""
    return lambda e: ((e.get("event") == "acme.order.fail" and e.get("domain") == d) or
                      (e.get("event") == "acme.backoff" and e.get("domain") in (None, d)))


def main(t):
    ca = st.TestCA(st.tempdir("stsd-ca-"))

    # --- start everything ---------------------------------------------------------------------
    p_down = st.free_port()
    pb_down = pl.Pebble(http_port=p_down)
    pb_down.start_dns()  # pebble itself later: the directory is down at start
    down = al.serve(["down.test"], pb_down.acme_config("http-01", "127.0.0.1:%d" % p_down))
    w_down = al.Watch(down)

    closed_port = st.free_port()
    closed = al.serve(["closed.test"], al.acme_section(
        "https://localhost:%d/dir" % closed_port, ca.cert, "http-01",
        "127.0.0.1:%d" % st.free_port()))
    w_closed = al.Watch(closed)

    fd = fakedir.FakeDir(ca, limit={"newOrder"}, retry_after=RETRY_AFTER).start()
    rl = al.serve(["rl.test"], al.acme_section(fd.directory, fd.ca_file, "http-01",
                                               "127.0.0.1:%d" % st.free_port()))
    w_rl = al.Watch(rl)

    p_ch = st.free_port()
    pb = pl.Pebble(http_port=p_ch).start()
    pb.add_a("mta-sts.fail.test", ["127.0.0.2"])
    old = ca.issue("mta-sts.fail.test", days=2, name="fail-old")
    old_serial = pl.cert_info(open(old["cert"], "rb").read())["serial"]
    ch = al.serve(["fail.test", "ok.test"], pb.acme_config("http-01", "127.0.0.1:%d" % p_ch),
                  certs={"mta-sts.fail.test": old})
    w_ch = al.Watch(ch)
    old_bytes = open(al.cert_file(ch, "fail.test"), "rb").read()

    # --- down: first failure --------------------------------------------------------------------
    f = w_down.wait(is_failure("down.test"), 1, 30)
    t.ok(f is not None, "down: a failure is logged (acme.order.fail or acme.backoff)",
         down.log()[-3000:])
    down_next = None
    if f:
        e, seen = f[0]
        down_next = when(e.get("next_attempt"))
        t.ok(e.get("event") == "acme.backoff" or e.get("status") == "network",
             "down: the failure is status=network", e)
        delay = (down_next or 0) - seen
        t.ok(50 <= delay <= 68, "down: next_attempt is %.1f s ahead (60 s +-10 %%)" % delay, e)
        m = al.metrics(down)
        t.ok((al.metric(m, "stsd_acme_orders_total", result="network") or 0) >= 1,
             "down /metrics: stsd_acme_orders_total{result=\"network\"} >= 1",
             {k: v for k, v in m.items() if "acme" in k[0]})
        t.is_(al.metric(m, "stsd_acme_failures", domain="down.test"), 1.0,
              "down /metrics: stsd_acme_failures{domain=\"down.test\"} 1")
        t.is_(al.metric(m, "stsd_acme_next_attempt_timestamp_seconds", domain="down.test"),
              float(down_next or -1), "down /metrics: next attempt = the log's next_attempt")
    pb_down.start_pebble()  # the directory is back; serve must notice at next_attempt

    # --- closed: growing next_attempt ---------------------------------------------------------
    f1 = w_closed.wait(is_failure("closed.test"), 1, 30)
    t.ok(f1 is not None, "closed: first failure logged", closed.log()[-2000:])
    r = al.cli(closed, "certs", "renew", "closed.test", "--force", "--wait", "30")
    t.ok(r.returncode == 1, "closed: `certs renew --force` reports the failure (exit 1)", r)
    t.ok("failed" in r.out + r.err and "network" in r.out + r.err,
         "closed: it prints the network failure", r)
    f2 = w_closed.wait(is_failure("closed.test"), 2, 30)
    t.ok(f2 is not None, "closed: second failure logged", closed.log()[-2000:])
    if f1 and f2:
        d1 = when(f2[0][0].get("next_attempt")) - f2[0][1]
        d2 = when(f2[1][0].get("next_attempt")) - f2[1][1]
        t.ok(50 <= d1 <= 68 and 105 <= d2 <= 135,
             "closed: next_attempt grows: %.0f s after the 1st failure, %.0f s after the 2nd"
             % (d1, d2), [x[0] for x in f2])
        t.is_(f2[1][0].get("failures"), "2", "closed: the 2nd failure says failures=2")
        m = al.metrics(closed)
        t.is_(al.metric(m, "stsd_acme_orders_total", result="network"), 2.0,
              "closed /metrics: stsd_acme_orders_total{result=\"network\"} 2")
        t.is_(al.metric(m, "stsd_acme_failures", domain="closed.test"), 2.0,
              "closed /metrics: stsd_acme_failures{domain=\"closed.test\"} 2")

    # --- 429 + Retry-After ----------------------------------------------------------------------
    lim = fd.wait_requests("newOrder", 1, 30)
    t.ok(lim is not None and lim[0].status == 429, "429: the first newOrder got 429",
         fd.requests())
    f = w_rl.wait(is_failure("rl.test"), 1, 15)
    if f:
        e = f[0][0]
        t.is_((e.get("status"), e.get("retry_after")), ("rate_limited", str(RETRY_AFTER)),
              "429: logged status=rate_limited retry_after=%d" % RETRY_AFTER)
        t.ok((when(e.get("next_attempt")) or 0) >= int(lim[0].wall) + RETRY_AFTER,
             "429: next_attempt is not before the Retry-After", e)
    else:
        t.ok(False, "429: the failure is logged", rl.log()[-2000:])
    r = al.cli(rl, "certs", "renew", "rl.test", "--force", "--wait", "0")
    t.ok(r.returncode == 0, "429: `certs renew rl.test --force --wait 0` records the request", r)
    again = fd.wait_requests("newOrder", 2, RETRY_AFTER + 20)
    if lim and again:
        gap = again[1].t - lim[0].t
        t.ok(gap >= RETRY_AFTER, "429: the next newOrder came %.1f s after the 429 "
             "(Retry-After: %d)" % (gap, RETRY_AFTER), fd.requests())
        t.ok(gap <= RETRY_AFTER + 15, "429: and the forced renewal did send it soon after the "
             "Retry-After ran out (%.1f s)" % gap)
    else:
        t.ok(False, "429: a second newOrder after the Retry-After (forced renewal)",
             "%r\n%s" % (fd.requests(), rl.log()[-2000:]))
    t.is_([r.name for r in fd.requests() if r.name in ("newOrder", "other")][:2],
          ["newOrder", "newOrder"], "429: nothing but newOrder was tried after the 429")

    # --- challenge failure: reported, old certificate kept --------------------------------------
    f = w_ch.wait(is_failure("fail.test"), 1, 40)
    t.ok(f is not None, "chall: the failed order is logged", ch.log()[-3000:])
    if f:
        e = f[0][0]
        t.is_(e.get("status"), "challenge", "chall: status=challenge")
        t.ok(len(e.get("detail", "")) > 10, "chall: with the CA's detail: %s" % e.get("detail"))
    ok_served = pl.wait_served_by(pb, ch.port, "mta-sts.ok.test", 30)
    t.ok(ok_served is not None, "chall: the other domain (ok.test) is issued meanwhile")
    served = pl.served_cert(ch.port, "mta-sts.fail.test") or {}
    t.is_(served.get("serial"), old_serial, "chall: the old certificate is still served")
    t.is_(open(al.cert_file(ch, "fail.test"), "rb").read(), old_bytes,
          "chall: mta-sts.fail.test.pem is unchanged")
    r = al.curl_policy(ch, "fail.test", ca.cert)
    t.is_(r.status, 200, "chall: the policy is still fetched with the old certificate")
    lst = al.certs_list(ch)
    ent = al.certs_entry(lst, "mta-sts.fail.test") or al.certs_entry(lst, "fail.test")
    t.ok(ent is not None and str(ent.get("last_error", "")).startswith("challenge:"),
         "chall: `stsd certs list --json` shows last_error challenge: ...",
         "%r\n%r" % (ent, al.certs_list.last))
    r = al.cli(ch, "certs", "list")
    t.ok("challenge" in r.out and "mta-sts.fail.test" in r.out,
         "chall: `stsd certs list` shows the failure", r.out)

    # --- restart: the account is reused ---------------------------------------------------------
    acct1 = al.events(ch, "acme.account")
    key = os.path.join(ch.state_dir, "acme", "account.key")
    key_bytes = open(key, "rb").read() if os.path.exists(key) else None
    t.is_([e.get("created") for e in acct1], ["1"], "restart: the first run created the account")
    t.is_(ch.stop(), 0, "restart: SIGTERM, exit 0")
    al.start_serve(ch)
    acct2 = al.wait_event(ch, "acme.account", this_run=True, timeout=20)
    t.ok(acct2 is not None, "restart: the account step ran again", ch.log()[-2000:])
    if acct1 and acct2:
        t.is_((acct2[0].get("created"), acct2[0].get("url")), ("0", acct1[0].get("url")),
              "restart: acme.account created=0 with the same URL")
    t.is_(open(key, "rb").read() if os.path.exists(key) else None, key_bytes,
          "restart: account.key unchanged")
    t.is_(stat.S_IMODE(os.stat(key).st_mode) if key_bytes else None, 0o600,
          "restart: account.key is 0600")
    time.sleep(2)  # an absence: give the scheduler a couple of passes
    t.is_([e.get("domain") for e in al.events(ch, "acme.order.start", this_run=True)], [],
          "restart: nothing ordered at start (ok.test is valid, fail.test backs off)")
    pb.clear_a("mta-sts.fail.test")
    r = al.cli(ch, "certs", "renew", "fail.test", "--force", "--wait", "60", timeout=90)
    t.ok(r.returncode == 0, "chall: with DNS fixed, `certs renew fail.test --force` renews", r)
    new = pl.wait_served_by(pb, ch.port, "mta-sts.fail.test", 10)
    t.ok(new is not None and new["serial"] != old_serial,
         "chall: the renewed pebble certificate is served", pl.wait_served_by.last)

    # --- down: recovery without help -------------------------------------------------------------
    ok = w_down.wait(lambda e: e.get("event") == "acme.order.ok", 1,
                     max(5, (down_next or 0) - time.time()) + 20)
    t.ok(ok is not None, "down: recovered at next_attempt (acme.order.ok)", down.log()[-3000:])
    first_fail = (w_down.seen(is_failure("down.test")) or [(None, 0)])[0]
    later = w_down.seen()[w_down.seen().index(first_fail) + 1:] if first_fail[0] else []
    t.ok(down_next is not None and later and later[0][1] >= down_next - 1,
         "down: nothing was tried before next_attempt (next acme event %.1f s after it)" %
         ((later[0][1] - down_next) if later and down_next else float("nan")),
         [e for e, _ in later[:5]])
    served = pl.wait_served_by(pb_down, down.port, "mta-sts.down.test", 10)
    t.ok(served is not None, "down: the recovered certificate is served", pl.wait_served_by.last)
    m = al.metrics(down)
    t.is_((al.metric(m, "stsd_acme_orders_total", result="ok"),
           al.metric(m, "stsd_acme_failures", domain="down.test")), (1.0, 0.0),
          "down /metrics after recovery: orders_total{result=\"ok\"} 1, failures 0")
    for s in (down, closed, rl, ch):
        t.is_(s.stop(), 0, "SIGTERM: exit 0 (%s)" % s.dir)


st.Tap().run(main)
