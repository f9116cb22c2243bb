#!/usr/bin/python3
"""test_hostile_selfcheck.py - self-checks of many hosted domains, and no connection to private
addresses.

 1. 1,000 hosted domains, [checks] interval = 60s (the minimum), on the test resolver (a real
    unbound serving the test zone): every domain has a stored check within the interval (plus
    a small slack), and the checks are spread over it (not all in the first seconds).
    Every MX resolves to 127.0.0.1, where a listening socket counts connections: without
    [checks] allow_private, 0 connections, and every stored check has the mx.address.private
    finding.
 2. The same with allow_private = on for one domain: the MX is connected, no such finding.
"""
import os
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st = hl.st
N = 1000
INTERVAL = 60
SLACK = 8
POLICY = "version: STSv1\nmode: testing\nmx: mail.%s\nmax_age: 86400\n"


class Counter:
    """A listening socket on 127.0.0.1 that counts (and closes) every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.n = 0
        self.stopped = False
        threading.Thread(target=self._run, daemon=True).start()
        st.Cleanup.add(self.stop)

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.n += 1
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def name(i):
    return "d%04d.test" % i


def serve(domains, smtp_port, dns, allow_private):
    s = st.Stsd(policies={d: POLICY % d for d in domains}, checks=True,
                extra_config="[checks]\ninterval = 60s\nresolver = %s@%d\nsmtp_port = %d\n"
                "https_port = %d\nallow_private = %s\n" %
                (dns.addr, dns.port, smtp_port, st.free_port(), "on" if allow_private else "off"))
    return s


def checks(db):
    for _ in range(50):  # the server may be creating the file (WAL) right now
        try:
            c = sqlite3.connect(db, timeout=30)
            break
        except sqlite3.OperationalError:
            time.sleep(0.1)
    else:
        c = sqlite3.connect(db, timeout=30)
    try:
        first = dict(c.execute("SELECT domain, min(started) FROM checks GROUP BY domain"))
        private = {r[0] for r in c.execute(
            "SELECT DISTINCT c.domain FROM checks c JOIN check_findings f ON f.check_id = c.id "
            "WHERE f.finding = 'mx.address.private'")}
        return first, private
    finally:
        c.close()


def main(t):
    recs = []
    for i in range(N):
        d = name(i)
        recs += ["%s. MX 10 mail.%s." % (d, d), "mail.%s. A 127.0.0.1" % d]
    dns = st.Unbound(recs)
    dns.start(probe="mail.%s." % name(0))
    smtp = Counter()

    # --- 1. 1,000 domains, one interval, no private connections ------------------------------
    domains = [name(i) for i in range(N)]
    s = serve(domains, smtp.port, dns, False)
    db = os.path.join(s.state_dir, "stsd.db")
    t0 = time.time()
    s.start()
    t.ok(s.wait_log("event=check.interval domains=%d" % N, timeout=10),
         "an interval starts with all %d hosted domains" % N, s.log()[-1500:])
    start = time.time()
    first = {}
    while time.time() < start + INTERVAL + SLACK:
        first, _ = checks(db)
        if len(first) >= N:
            break
        time.sleep(1)
    done_at = time.time()
    first, private = checks(db)
    t.is_(len(first), N, "every hosted domain has a stored check (%d of %d) %.0f s after the "
          "interval started (limit %d s)" % (len(first), N, done_at - start, INTERVAL + SLACK))
    times = sorted(first.values())
    if times:
        t0s = int(start)
        quarters = [sum(1 for x in times if t0s + q * INTERVAL / 4 <= x <
                        t0s + (q + 1) * INTERVAL / 4) for q in range(4)]
        early = sum(1 for x in times if x < t0s + 5)
        t.diag("checks per quarter of the interval: %s; in the first 5 s: %d; last at +%d s" %
               (quarters, early, times[-1] - t0s))
        t.ok(min(quarters) >= N // 8, "spread over the interval: every quarter has at least "
             "%d checks %s" % (N // 8, quarters))
        t.ok(early <= N // 6, "not a burst: %d of %d checks in the first 5 s" % (early, N))
        t.ok(times[-1] <= t0s + INTERVAL + SLACK, "the last one within the interval + slack")
    t.is_(smtp.n, 0, "0 connections to the MX on 127.0.0.1 without allow_private")
    t.is_(len(private), len(first), "every stored check has the mx.address.private finding")
    t.ok("event=check.behind" not in s.log(), "the checks kept up with the interval")
    t.ok(hl.cpu_seconds(s.proc.pid) < INTERVAL * 0.5, "CPU for %d checks: %.1f s" %
         (N, hl.cpu_seconds(s.proc.pid)))
    t.is_(s.stop(), 0, "stsd stops cleanly")

    # --- 2. allow_private = on: the MX is probed -----------------------------------------------
    s = serve([name(0)], smtp.port, dns, True)
    db = os.path.join(s.state_dir, "stsd.db")
    s.start()
    t.ok(s.wait_log("event=check.done domain=%s" % name(0), timeout=20), "the check ran",
         s.log()[-1500:])
    first, private = checks(db)
    t.ok(smtp.n >= 1, "with allow_private = on the MX on 127.0.0.1 is connected (%d)" % smtp.n)
    t.is_(private, set(), "and no mx.address.private finding")
    t.is_(s.stop(), 0, "stsd stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
