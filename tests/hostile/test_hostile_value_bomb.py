#!/usr/bin/env python3
"""Value bombs, a spent parse budget and a graceful stop with the parse pool busy, against a
release build: memory bounded by bytes, never by shape, and no parsing on an event loop.

1. 8 client threads post value bombs for ~10 s: each a ~20 KB gzip body that inflates to ~20 MB
   of `"x":[{},{},...]` (~6.9 million values) in an otherwise valid report for a hosted domain.
   Bound: every bomb is answered 413 or 503 (never 201, never a reset), peak RSS (VmHWM) stays
   under 400 MB, and a sender's policy GET answers in under 50 ms (p99) meanwhile.
2. parse_memory = 1M and 12 threads posting 200 KB valid reports at once: some get 503 with
   Retry-After, none anything but 201/503, and every report answered 201 is in the database
   with its id (and nothing else is).
3. SIGTERM while 16 threads keep large reports (9,000 failure-details each) in the parse pool
   and the writer's queue: the server exits 0, answers the reports it had accepted, and every
   201 is in the database.
"""
import gzip
import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il

BOMB_THREADS = 8
BOMB_SECONDS = 10.0
BOMB_VALUES = 6900000  # "{}," each: ~20.7 MB, under max_json (20 MiB)


class RawClient(il.Client):
    """il.Client's keep-alive connection, but never retrying: a reset is reported, not hidden."""

    def post(self, body, ctype):
        """(status, headers, body), or (None, error text, b"") when the exchange failed."""
        try:
            if self.conn is None:
                self._connect()
            self.conn.request("POST", "/tlsrpt", body=body, headers={"Content-Type": ctype})
            r = self.conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if r.will_close:
                self.close()
            return r.status, hdrs, data
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, "%s: %s" % (type(e).__name__, e), b""


def bomb_body():
    text = json.dumps(il.report("bomb"))
    body = (text[:-1] + ',"x":[' + "{}," * (BOMB_VALUES - 1) + "{}]}").encode()
    return len(body), gzip.compress(body, 9)


def value_bombs(t):
    raw_len, bomb = bomb_body()
    t.diag("bomb: %d bytes of gzip -> %d bytes of JSON, %d values" %
           (len(bomb), raw_len, BOMB_VALUES + 21))
    s = il.server(hl.OPEN_INTAKE, threads=2)
    rss0 = hl.vm_rss_mb(s.proc.pid)
    probe = hl.GetProbe(s.port).start()
    time.sleep(0.5)
    stop = time.monotonic() + BOMB_SECONDS
    answers, errors = [], []

    def attack():
        cl = RawClient(s.port)
        while time.monotonic() < stop:
            status, hdrs, body = cl.post(bomb, "application/tlsrpt+gzip")
            if status is None:
                errors.append(hdrs)
            else:
                answers.append((status, il.body_json(body).get("error", "")))
        cl.close()

    ths = [threading.Thread(target=attack) for _ in range(BOMB_THREADS)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    elapsed = time.monotonic() - t0
    time.sleep(0.3)
    lat = probe.stop()
    hwm = hl.vm_hwm_mb(s.proc.pid)
    by_status = {}
    for status, _ in answers:
        by_status[status] = by_status.get(status, 0) + 1
    t.diag("bombs answered: %d in %.1f s %s, failed exchanges: %d" %
           (len(answers), elapsed, json.dumps(by_status, sort_keys=True), len(errors)))
    t.diag("policy GETs during the attack: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms" %
           (len(lat), hl.percentile(lat, 50) * 1000, hl.p99(lat) * 1000,
            hl.percentile(lat, 100) * 1000))
    t.diag("RSS at start %.0f MB, VmHWM %.0f MB; CPU %.1f s" %
           (rss0, hwm, hl.cpu_seconds(s.proc.pid)))
    t.ok(len(answers) >= BOMB_THREADS * 2, "the bombs were answered (%d)" % len(answers))
    t.is_(errors, [], "no bomb got a reset or a failed exchange")
    t.is_(sorted(set(by_status) - {413, 503}), [], "every bomb answered 413 or 503")
    t.ok(by_status.get(413, 0) > 0 and
         all("max_values" in e for st_, e in answers if st_ == 413),
         "the 413s name max_values", answers[:3])
    t.ok(hwm < 400, "peak RSS %.0f MB < 400 MB" % hwm)
    t.ok(len(lat) >= 50 and hl.p99(lat) < 0.050,
         "policy GET p99 %.1f ms < 50 ms (%d GETs)" % (hl.p99(lat) * 1000, len(lat)))
    cl = il.Client(s.port)
    status, hdrs, body = cl.post(il.report_bytes("after-bombs", gz=True),
                                 "application/tlsrpt+gzip")
    cl.close()
    t.is_(status, 201, "a real report after the attack is stored")
    t.is_(il.db_rows(s.db, "SELECT report_id FROM reports"), [("after-bombs",)],
          "no bomb was stored")
    t.is_(s.stop(), 0, "stsd stops with status 0")


def padded(report_id, pad):
    r = il.report(report_id)
    r["x-pad"] = "p" * pad
    return json.dumps(r).encode()


def budget_spent(t):
    s = il.server(hl.OPEN_INTAKE + "parse_memory = 1M\n", threads=2)
    created, answers, retry, errors = [], [], [], []
    go = threading.Event()

    def post(n):
        cl = RawClient(s.port)
        go.wait()
        for i in range(8):
            rid = "budget-%d-%d" % (n, i)
            status, hdrs, body = cl.post(padded(rid, 200000), "application/tlsrpt+json")
            if status is None:
                errors.append(hdrs)
                continue
            answers.append(status)
            if status == 201:
                created.append((rid, il.body_json(body).get("id")))
            elif status == 503:
                retry.append(hdrs.get("retry-after"))
        cl.close()

    ths = [threading.Thread(target=post, args=(n,)) for n in range(12)]
    for th in ths:
        th.start()
    go.set()
    for th in ths:
        th.join(120)
    n503 = answers.count(503)
    t.diag("parse_memory = 1M, 96 posts of 200 KB from 12 threads: %d x 201, %d x 503, "
           "%d failed exchanges" % (answers.count(201), n503, len(errors)))
    t.is_(errors, [], "every post was answered")
    t.is_(sorted(set(answers) - {201, 503}), [], "every answer is 201 or 503")
    t.ok(n503 > 0, "the spent budget answered 503 (%d)" % n503)
    t.ok(len(created) > 0, "reports that fit were stored (%d)" % len(created))
    t.ok(n503 > 0 and all(r is not None and r.isdigit() and int(r) >= 1 for r in retry),
         "every 503 carries Retry-After", retry[:5])
    got = dict(il.db_rows(s.db, "SELECT report_id, id FROM reports"))
    t.is_(sorted((rid, got.get(rid)) for rid, _ in created), sorted(created),
          "every report answered 201 is in the database with its id")
    t.is_(len(got), len(created), "nothing else was stored")
    t.is_(s.stop(), 0, "stsd stops with status 0")


BIG_TEMPLATE = None


def big_report(report_id):
    """A valid report with 9,000 failure-details (~1.4 MB of JSON, ~60k values), gzip'd."""
    global BIG_TEMPLATE
    if BIG_TEMPLATE is None:
        r = il.report("@ID@")
        fd = r["policies"][0]["failure-details"][0]
        r["policies"][0]["failure-details"] = [
            dict(fd, **{"sending-mta-ip": "192.0.2.%d" % (i % 250), "failed-session-count": 1})
            for i in range(9000)]
        r["policies"][0]["summary"]["total-failure-session-count"] = 9000
        BIG_TEMPLATE = json.dumps(r)
    return gzip.compress(BIG_TEMPLATE.replace("@ID@", report_id).encode(), 1)


def stop_busy(t):
    s = il.server(hl.OPEN_INTAKE, threads=2)
    created, after, errors = [], [], []
    stopping = threading.Event()
    t_term = [None]

    def post(n):
        cl = RawClient(s.port)
        i = 0
        while not stopping.is_set():
            rid = "busy-%d-%d" % (n, i)
            i += 1
            body = big_report(rid)
            status, hdrs, resp = cl.post(body, "application/tlsrpt+gzip")
            if status is None:
                errors.append(hdrs)
                break  # the server is going away
            if status == 201:
                created.append((rid, il.body_json(resp).get("id")))
                if t_term[0] is not None:
                    after.append(rid)
        cl.close()

    big_report("warm-up")
    ths = [threading.Thread(target=post, args=(n,)) for n in range(16)]
    for th in ths:
        th.start()
    deadline = time.monotonic() + 30
    while len(created) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    t_term[0] = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    stopping.set()
    try:
        rc = s.proc.wait(60)
    except Exception:
        rc = None
    for th in ths:
        th.join(60)
    t.diag("SIGTERM after %d reports stored: %d more answered 201 after the signal; "
           "stopped in %.1f s" % (len(created) - len(after), len(after),
                                  time.monotonic() - t_term[0]))
    t.is_(rc, 0, "SIGTERM with the parse pool and the writer busy: exit status 0")
    t.ok(len(after) > 0, "reports in flight at the signal were answered 201 (%d)" % len(after))
    got = dict(il.db_rows(s.db, "SELECT report_id, id FROM reports"))
    t.is_(sorted((rid, got.get(rid)) for rid, _ in created), sorted(created),
          "all %d reports answered 201 are in the database" % len(created))


def main(t):
    value_bombs(t)
    budget_spent(t)
    stop_busy(t)


if __name__ == "__main__":
    st.Tap().run(main)
