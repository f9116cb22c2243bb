#!/usr/bin/env python3
"""test_acme_faults.py - what serve does when ordering goes wrong. Three serves run side by side
(to share the waits):

  down    the directory is down at start (pebble not yet running; its port is closed). Each
          failure is logged (acme.backoff for the account step, or acme.order.fail) with
          status=network, next_attempt and wait; the second wait is about twice the first
          (60 s, 120 s +-10 %, divided by 10 here through serve's test-only
          STSD_TEST_ACME_BACKOFF_DIV so that the test does not take minutes); /metrics counts
          them (stsd_acme_orders_total{result="network"}, the domain's failures and next
          attempt), and so does `stsd certs list`. Nothing is tried before next_attempt.
          pebble is started after the second failure and at the next attempt serve recovers by
          itself: the account is made and the certificate issued and served.
  429     a fake directory answers newOrder 429 + Retry-After: 15 + rateLimited; with the
          back-off divided by 10 (6 s) the Retry-After is the longer wait: the failure says
          status=rate_limited retry_after=15 wait=15 (16 when the answer came late in a second), and even with a forced renewal
          (`stsd certs renew --force`) asked at once the fake directory sees no newOrder before
          15 s — and sees it within the planner's next pass after.
  chall   pebble's DNS points mta-sts.fail.test at 127.0.0.2, where nothing answers: the order
          fails with status=challenge and the CA's detail, `stsd certs list` shows the error,
          the old (test-CA, 2 days left) certificate stays in place and is still served
          (serial); the other domain of the same serve is issued meanwhile. A forced renewal
          fails the same way (exit 1, failures=2). After a restart the account is reused
          (acme.account created=0, same URL, account.key unchanged, 0600) and nothing is
          ordered at start; once the DNS is right, `stsd certs renew --force` renews it.
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

RETRY_AFTER = 15
DIV = 10  # STSD_TEST_ACME_BACKOFF_DIV for the "down" serve


def when(v):
    """next_attempt from the log: RFC 3339 UTC (or unix seconds)."""
    if v is None:
        return None
    if v.isdigit():
        return int(v)
    try:
        return calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def is_failure(d):
    """Failure events for domain d: acme.order.fail domain=d, and acme.backoff (the account
    step, before any domain is ordered)."""
    return lambda e: ((e.get("event") == "acme.order.fail" and e.get("domain") == d) or
                      e.get("event") == "acme.backoff")


def main(t):
    ca = st.TestCA(st.tempdir("stsd-ca-"))

    # --- start everything ---------------------------------------------------------------------
    p_down = st.free_port()
    pb_down = pl.Pebble(http_port=p_down)
    pb_down.start_dns()  # pebble itself later: the directory is down at start
    down = al.serve(["down.test"], pb_down.acme_config("http-01", "127.0.0.1:%d" % p_down),
                    env={"STSD_TEST_ACME_BACKOFF_DIV": str(DIV)})
    w_down = al.Watch(down)

    fd = fakedir.FakeDir(ca, limit={"newOrder"}, retry_after=RETRY_AFTER).start()
    rl = al.serve(["rl.test"], al.acme_section(fd.directory, fd.ca_file, "http-01",
                                               "127.0.0.1:%d" % st.free_port()),
                  env={"STSD_TEST_ACME_BACKOFF_DIV": str(DIV)})
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

    # --- down: two failures, growing waits ------------------------------------------------------
    f = w_down.wait(is_failure("down.test"), 2, 40)
    t.ok(f is not None, "down: two failures logged (acme.backoff / acme.order.fail)",
         down.log()[-3000:])
    down_next = None
    if f:
        (e1, s1), (e2, s2) = f[0], f[1]
        t.is_((e1.get("status"), e2.get("status")), ("network", "network"),
              "down: both say status=network")
        t.is_((e1.get("failures"), e2.get("failures")), ("1", "2"), "down: failures=1, then 2")
        w1, w2 = int(e1.get("wait", -1)), int(e2.get("wait", -1))
        t.ok(54 // DIV <= w1 <= 66 // DIV and 108 // DIV <= w2 <= 132 // DIV,
             "down: the wait grows: %d s, then %d s (60 s and 120 s +-10 %%, / %d)" %
             (w1, w2, DIV), (e1, e2))
        for e, seen, w in ((e1, s1, w1), (e2, s2, w2)):
            na = when(e.get("next_attempt"))
            t.ok(na is not None and abs(na - (seen + w)) <= 1.5,
                 "down: next_attempt %s = the failure's time + wait %d s" %
                 (e.get("next_attempt"), w), e)
        t.ok(s2 - s1 >= w1 - 1, "down: the second attempt waited for next_attempt (%.1f s "
             "after the first failure; wait %d s)" % (s2 - s1, w1))
        down_next = when(e2.get("next_attempt"))
        m = al.metrics(down)
        t.is_(al.metric(m, "stsd_acme_orders_total", result="network"), 2.0,
              "down /metrics: stsd_acme_orders_total{result=\"network\"} 2")
        t.is_((al.metric(m, "stsd_acme_failures", domain="down.test"),
               al.metric(m, "stsd_acme_next_attempt_timestamp_seconds", domain="down.test")),
              (2.0, float(when(e2.get("next_attempt")) or -1)),
              "down /metrics: the domain's failures 2 and next attempt as logged")
        ent = al.certs_entry(al.certs_list(down), "down.test") or {}
        t.ok(str((ent.get("acme") or {}).get("last_error")).startswith("network: "),
             "down: `stsd certs list --json` shows last_error network: ...",
             "%r\n%r" % (ent, al.certs_list.last))
    pb_down.start_pebble()  # the directory is back; serve must notice at next_attempt
    t_back = time.time()

    # --- 429 + Retry-After ----------------------------------------------------------------------
    lim = fd.wait_requests("newOrder", 1, 30)
    t.ok(lim is not None and lim[0].status == 429, "429: the first newOrder got 429",
         fd.requests())
    f = w_rl.wait(is_failure("rl.test"), 1, 15)
    t.ok(f is not None, "429: the failure is logged", rl.log()[-2000:])
    if f and lim:
        e = f[0][0]
        t.is_((e.get("event"), e.get("status"), e.get("retry_after"), e.get("http_status")),
              ("acme.order.fail", "rate_limited", str(RETRY_AFTER), "429"),
              "429: acme.order.fail status=rate_limited retry_after=%d http_status=429" %
              RETRY_AFTER)
        t.ok(int(e.get("wait", -1)) in (RETRY_AFTER, RETRY_AFTER + 1) and
             (when(e.get("next_attempt")) or 0) >= int(lim[0].wall) + RETRY_AFTER,
             "429: wait=%s (the Retry-After, maybe rounded up a second), next_attempt not "
             "before it (the back-off alone would be %d-%d s here)" % (
                 e.get("wait"), 54 // DIV, 66 // DIV), e)
        r = al.cli(rl, "certs", "renew", "rl.test", "--force", "--wait", "0")
        t.ok(r.returncode == 0, "429: a forced renewal asked %.1f s after the 429 is recorded" %
             (time.monotonic() - lim[0].t), r)
        again = fd.wait_requests("newOrder", 2, RETRY_AFTER + 15)
        t.ok(again is not None, "429: a newOrder comes again after the Retry-After",
             "%r\n%s" % (fd.requests(), rl.log()[-2000:]))
        if again:
            gap = again[1].t - lim[0].t
            t.ok(RETRY_AFTER <= gap <= RETRY_AFTER + 10,
                 "429: the next newOrder came %.1f s after the 429 (Retry-After: %d; "
                 "the planner looks every 5 s)" % (gap, RETRY_AFTER), fd.requests())
        t.is_([x.name for x in fd.requests() if x.name not in ("directory", "newNonce",
                                                                 "newAccount")][:2],
              ["newOrder", "newOrder"], "429: nothing else was asked of the directory")

    # --- challenge failure: reported, old certificate kept --------------------------------------
    f = w_ch.wait(is_failure("fail.test"), 1, 40)
    t.ok(f is not None, "chall: the failed order is logged", ch.log()[-3000:])
    if f:
        e = f[0][0]
        t.is_((e.get("event"), e.get("status"), e.get("failures")),
              ("acme.order.fail", "challenge", "1"), "chall: acme.order.fail status=challenge "
              "failures=1")
        t.ok("127.0.0.2" in e.get("detail", ""), "chall: the CA's detail names where it "
             "looked: %s" % e.get("detail"))
    ok_served = pl.wait_served_by(pb, ch.port, "mta-sts.ok.test", 30)
    t.ok(ok_served is not None, "chall: the other domain (ok.test) is issued meanwhile")
    served = pl.served_cert(ch.port, "mta-sts.fail.test") or {}
    t.is_(served.get("serial"), old_serial, "chall: the old certificate is still served")
    t.is_(open(al.cert_file(ch, "fail.test"), "rb").read(), old_bytes,
          "chall: mta-sts.fail.test.pem is unchanged")
    r = al.curl_policy(ch, "fail.test", ca.cert)
    t.is_((r.status, r.body), (200, al.policy_file(ch, "fail.test")),
          "chall: the policy is still fetched with the old certificate")
    lst = al.certs_list(ch)
    ent = al.certs_entry(lst, "mta-sts.fail.test") or al.certs_entry(lst, "fail.test")
    t.ok(ent is not None and
         str((ent.get("acme") or {}).get("last_error")).startswith("challenge: "),
         "chall: `stsd certs list --json` shows last_error challenge: ...",
         "%r\n%r" % (ent, al.certs_list.last))
    r = al.cli(ch, "certs", "list")
    t.ok("challenge:" in r.out and "mta-sts.fail.test" in r.out,
         "chall: `stsd certs list` shows the failure", r.out)
    r = al.cli(ch, "certs", "renew", "fail.test", "--force", "--wait", "60", timeout=90)
    t.ok(r.returncode == 1 and "challenge" in r.out + r.err,
         "chall: a forced renewal with the DNS still wrong fails: exit 1, says challenge", r)
    f2 = w_ch.wait(is_failure("fail.test"), 2, 10)
    t.is_(f2 and f2[1][0].get("failures"), "2", "chall: the second failure says failures=2")
    served = pl.served_cert(ch.port, "mta-sts.fail.test") or {}
    t.is_(served.get("serial"), old_serial, "chall: the old certificate is still served")

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
    time.sleep(2)  # an absence: give the scheduler a pass after the account step
    t.is_([e.get("domain") for e in al.events(ch, "acme.order.start", this_run=True)], [],
          "restart: nothing ordered at start (ok.test is valid, fail.test backs off)")
    pb.clear_a("mta-sts.fail.test")
    r = al.cli(ch, "certs", "renew", "fail.test", "--force", "--wait", "60", timeout=90)
    t.ok(r.returncode == 0 and "renewed mta-sts.fail.test" in r.out,
         "chall: with the DNS fixed, `certs renew fail.test --force` renews it", r)
    new = pl.wait_served_by(pb, ch.port, "mta-sts.fail.test", 10)
    t.ok(new is not None and new["serial"] != old_serial,
         "chall: the renewed pebble certificate is served", pl.wait_served_by.last)

    # --- down: recovery without help -------------------------------------------------------------
    ok = w_down.wait(lambda e: e.get("event") == "acme.order.ok", 1,
                     max(5, (down_next or 0) - time.time()) + 30)
    t.ok(ok is not None, "down: recovered by itself (acme.order.ok)", down.log()[-3000:])
    evs = w_down.seen()
    fails = [x for x in evs if is_failure("down.test")(x[0])]
    after = evs[evs.index(fails[1]) + 1:] if len(fails) >= 2 else []
    t.ok(down_next is not None and after and after[0][1] >= down_next - 1,
         "down: pebble back %.1f s before next_attempt; the next try came %.1f s after "
         "next_attempt" % ((down_next or 0) - t_back,
                           (after[0][1] - down_next) if after and down_next else float("nan")),
         [e for e, _ in after[:5]])
    t.is_([e.get("event") for e, _ in after if e.get("event") != "acme.order.start"][:2],
          ["acme.account", "acme.order.ok"], "down: then the account, then the certificate")
    served = pl.wait_served_by(pb_down, down.port, "mta-sts.down.test", 10)
    t.ok(served is not None, "down: the certificate is served", pl.wait_served_by.last)
    r = al.curl_policy(down, "down.test", pb_down.root)
    t.is_((r.status, r.body), (200, al.policy_file(down, "down.test")),
          "down: curl --cacert <pebble root> gets the policy")
    m = al.metrics(down)
    t.is_((al.metric(m, "stsd_acme_orders_total", result="ok"),
           al.metric(m, "stsd_acme_orders_total", result="network")), (1.0, 2.0),
          "down /metrics after recovery: orders_total ok 1, network 2")
    for s in (down, rl, ch):
        t.is_(s.stop(), 0, "SIGTERM: exit 0 (%s)" % s.dir)


st.Tap().run(main)
