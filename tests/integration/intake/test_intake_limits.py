#!/usr/bin/env python3
"""Report intake under pressure:

- 503 with Retry-After when the queue (`[reports] queue = 1`) is full and when the store is
  unavailable (the database write-locked by another connection past the busy timeout);
  nothing answered 503 is stored, everything answered 201 is;
- clients that go away while their report waits for the writer (HTTP/2 and HTTP/1.1): the
  report is still stored, the server touches no freed request (ASan) and keeps serving;
- gzip bombs: one layer 1 MB -> 1 GB and two layers 2 KB -> 1 MB -> 1 GB (built here with
  zlib in streaming fashion, never whole in memory) get 413, over HTTP/1.1 and HTTP/2 and
  several at once, while the server's peak RSS (VmHWM) stays under 100 MB;
- `[reports] max_values`: a report of exactly max_values JSON values is stored, one more value
  is 413 over HTTP/1.1 and HTTP/2; value bombs whose clients give up while the parse pool
  works on them are never answered to a freed request (ASan).
"""
import gzip
import json
import os
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

RSS_LIMIT_KB = 100 * 1024


def post_async(port, body, out, key):
    def run():
        cl = il.Client(port)
        try:
            out[key] = cl.post(body)
        except Exception as e:  # recorded, asserted by the caller
            out[key] = (0, {}, repr(e).encode())
        cl.close()
    th = threading.Thread(target=run)
    th.start()
    return th


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def unavailable(t):
    s = il.server("accept = any\nqueue = 1\n", threads=1)
    lock = il.db_connect(s.db)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer's BEGIN waits
    res = {}
    ta = post_async(s.port, il.report_bytes("q-A"), res, "A")
    # A is taken by the writer (blocked on the lock); B waits in the queue (1 place).
    time.sleep(1.0)
    tb = post_async(s.port, il.report_bytes("q-B"), res, "B")
    time.sleep(1.0)
    cl = il.Client(s.port)
    t0 = time.monotonic()
    status, hdrs, resp = cl.post(il.report_bytes("q-C"))
    t.ok(status == 503 and hdrs.get("retry-after", "").isdigit() and
         "waiting" in il.body_json(resp).get("error", "") and time.monotonic() - t0 < 5,
         "queue full: 503 with Retry-After at once", (status, hdrs, resp))
    ta.join(60)
    status, hdrs, resp = res.get("A", (None, {}, b""))
    t.ok(status == 503 and hdrs.get("retry-after", "").isdigit() and
         "unavailable" in il.body_json(resp).get("error", ""),
         "database locked past the busy timeout: 503 with Retry-After", (status, hdrs, resp))
    # The store is failing and B is probing it: a new report is answered at once.
    t0 = time.monotonic()
    status, hdrs, resp = cl.post(il.report_bytes("q-D"))
    t.ok(status == 503 and hdrs.get("retry-after") == "30" and time.monotonic() - t0 < 5,
         "while the store fails, new reports get 503 at once", (status, hdrs, resp))
    lock.execute("ROLLBACK")
    lock.close()
    tb.join(60)
    status, hdrs, resp = res.get("B", (None, {}, b""))
    t.is_((status, il.body_json(resp).get("status")), (201, "stored"),
          "the queued report is stored once the lock is gone")
    status, hdrs, resp = cl.post(il.report_bytes("q-C"))
    t.is_(status, 201, "the report refused for a full queue is stored when sent again")
    rows = il.db_rows(s.db, "SELECT report_id FROM reports ORDER BY report_id")
    t.is_(rows, [("q-B",), ("q-C",)], "stored: exactly the reports answered 201")
    t.ok("event=report.store_failed" in s.log(), "the failure is logged",
         s.log()[-2000:])
    cl.close()
    s.stop()


def client_gone(t):
    s = il.server("accept = any\n", threads=2)
    lock = il.db_connect(s.db)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    url = "https://%s:%d/tlsrpt" % (il.HOST, s.port)
    kw = dict(resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
              headers=["Content-Type: application/tlsrpt+json"])
    r2 = st.curl(url, http2=True, data=il.report_bytes("gone-h2"), timeout=1, **kw)
    r1 = st.curl(url, http2=False, data=il.report_bytes("gone-h1"), timeout=1, **kw)
    t.is_((r2.status, r1.status), (0, 0), "both clients gave up before an answer")
    lock.execute("ROLLBACK")
    lock.close()
    ok = wait_for(lambda: il.db_rows(s.db, "SELECT count(*) FROM reports")[0][0] == 2, 30)
    t.ok(ok, "their reports are stored anyway")
    time.sleep(0.5)
    cl = il.Client(s.port)
    status, hdrs, resp = cl.post(il.report_bytes("gone-h1"))
    t.is_((status, il.body_json(resp).get("status")), (200, "duplicate"),
          "the server keeps answering (the report is a duplicate now)")
    cl.close()
    t.is_(s.stop(), 0, "stsd stops with status 0 (no sanitizer report)")


def gz_stream(chunks):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(ch) for ch in chunks]
    out.append(c.flush())
    return b"".join(out)


def bombs(t):
    mb = bytes(1 << 20)
    one = gz_stream(mb for _ in range(1024))  # 1 GiB of zeros, about 1 MB
    two = gz_stream([one])                    # about 2 KB
    t.ok(len(one) < 1100000 and len(two) < 4096,
         "bombs built: %d bytes -> 1 GiB, %d bytes -> %d -> 1 GiB" % (len(one), len(two),
                                                                    len(one)))
    env = {}
    if "ASAN_OPTIONS" in os.environ:
        # ASan keeps freed blocks in a quarantine (256 MB by default) that would count in
        # RSS; measure the server's memory, not the sanitizer's.
        env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=16"
    s = il.server("accept = any\n", threads=2, env=env)
    base = il.vm_hwm_kb(s.proc.pid)
    cl = il.Client(s.port)
    for name, body in (("1 MB -> 1 GB", one), ("2 KB -> 1 MB -> 1 GB", two)):
        status, hdrs, resp = cl.post(body, "application/tlsrpt+gzip")
        t.ok(status == 413 and "inflates past" in il.body_json(resp).get("error", ""),
             "HTTP/1.1 gzip bomb %s: 413" % name, (status, resp))
    for name, body in (("1 MB -> 1 GB", one), ("2 KB -> 1 MB -> 1 GB", two)):
        r = st.curl("https://%s:%d/tlsrpt" % (il.HOST, s.port), http2=True,
                    resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
                    headers=["Content-Type: application/tlsrpt+gzip"], data=body, timeout=60)
        t.is_((r.status, r.http_version), (413, "2"), "HTTP/2 gzip bomb %s: 413" % name)
    res = {}
    ths = [post_async(s.port, one if i % 2 else two, res, i) for i in range(6)]
    for th in ths:
        th.join(120)
    t.is_(sorted(r[0] for r in res.values()), [413] * 6, "six bombs at once: 413 each")
    status, hdrs, resp = cl.post(il.report_bytes("after-bombs"))
    t.is_(status, 201, "a report afterwards is stored")
    peak = il.vm_hwm_kb(s.proc.pid)
    t.ok(0 < peak < RSS_LIMIT_KB, "peak RSS %d kB (at start %d kB) stays under 100 MB" %
         (peak, base))
    cl.close()
    t.is_(s.stop(), 0, "stsd stops with status 0")


def count_values(v):
    """JSON values the way the server counts them: every value, nested ones included."""
    if isinstance(v, dict):
        return 1 + sum(count_values(x) for x in v.values())
    if isinstance(v, list):
        return 1 + sum(count_values(x) for x in v)
    return 1


def max_values(t):
    r = il.report("values-ok")
    r["pad"] = [0] * (150 - 1 - count_values(r))  # max_values is at least 100
    n = count_values(r)
    s = il.server("accept = any\nmax_values = %d\n" % n, threads=2)
    cl = il.Client(s.port)
    status, hdrs, resp = cl.post(json.dumps(r).encode())
    t.is_(status, 201, "a report of exactly max_values (%d) values is stored" % n)
    r["report-id"] = "values-one-more"
    r["x"] = None
    for name, body, ctype in (("JSON", json.dumps(r).encode(), "application/tlsrpt+json"),
                              ("gzip", gzip.compress(json.dumps(r).encode()),
                               "application/tlsrpt+gzip")):
        status, hdrs, resp = cl.post(body, ctype)
        t.ok(status == 413 and "max_values (%d)" % n in il.body_json(resp).get("error", ""),
             "HTTP/1.1 %s with one value more: 413 naming max_values" % name, (status, resp))
        r2 = st.curl("https://%s:%d/tlsrpt" % (il.HOST, s.port), http2=True,
                     resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
                     headers=["Content-Type: " + ctype], data=body, timeout=60)
        t.is_((r2.status, r2.http_version), (413, "2"), "HTTP/2 %s one value more: 413" % name)
    # Value bombs (a million empty objects in ~3 KB of gzip) from clients that give up at
    # once: the pool finishes each one and must not answer a request h2o has freed.
    text = json.dumps(il.report("bomb"))
    bomb = gzip.compress((text[:-1] + ',"x":[' + "{}," * 999999 + "{}]}").encode())
    url = "https://%s:%d/tlsrpt" % (il.HOST, s.port)
    kw = dict(resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
              headers=["Content-Type: application/tlsrpt+gzip"], data=bomb)
    gone = [st.curl(url, http2=(i % 2 == 0), timeout=0.05, **kw).status for i in range(6)]
    t.diag("statuses of the clients that gave up: %s" % gone)
    time.sleep(1.0)
    status, hdrs, resp = cl.post(il.report_bytes("values-after"))
    t.is_(status, 201, "the server keeps storing reports")
    t.is_(sorted(x[0] for x in il.db_rows(s.db, "SELECT report_id FROM reports")),
          ["values-after", "values-ok"], "nothing but the two reports was stored")
    cl.close()
    t.is_(s.stop(), 0, "stsd stops with status 0 (no sanitizer report)")


def main(t):
    unavailable(t)
    client_gone(t)
    bombs(t)
    max_values(t)


if __name__ == "__main__":
    st.Tap().run(main)
