#!/usr/bin/env python3
"""POST <reports.path> (RFC 8460 §5.4): every status code of the table over HTTPS,
HTTP/1.1 (python's http.client, keep-alive) and HTTP/2 (curl --http2).

- every sample in tests/data/tlsrpt/valid posted as JSON and as gzip: 201 with an id, the
  raw bytes stored as sent; the same body again: 200 duplicate with the same id;
- every case in tests/data/tlsrpt/invalid: the status and error of its .expect file;
- 405 (with Allow: POST), 415, the tolerated media types, 413 (body over max_body, over
  HTTP/1.1 and HTTP/2; inflating past max_json), 422 with accept = hosted (and a domain added
  by a policy reload becomes acceptable), 429 with Retry-After for a non-exempt address.
"""
import gzip
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402


def check_created(t, what, status, hdrs, body):
    j = il.body_json(body)
    ok = (status == 201 and j.get("status") == "stored" and isinstance(j.get("id"), int)
          and set(j) == {"status", "id"} and hdrs.get("content-type") == "application/json")
    t.ok(ok, what + ": 201 stored with an id", (status, hdrs, body))
    return j.get("id") if ok else None


def check_duplicate(t, what, status, body, want_id):
    t.is_((status, il.body_json(body)), (200, {"status": "duplicate", "id": want_id}),
          what + ": 200 duplicate with the same id")


def delete_report(db, rid):
    c = il.db_connect(db)
    with c:
        c.execute("DELETE FROM reports WHERE id = ?", (rid,))
    c.close()


def valid_samples(t, s):
    cl = il.Client(s.port)
    cases = il.sample_cases("valid")
    t.ok(len(cases) >= 20, "at least 20 valid samples (%d)" % len(cases))
    for name, path, exp in cases:
        raw = open(path, "rb").read()
        for kind, body, ctype in (("json", raw, "application/tlsrpt+json"),
                                  ("gzip", gzip.compress(raw), "application/tlsrpt+gzip")):
            what = "%s as %s" % (name, kind)
            status, hdrs, resp = cl.post(body, ctype)
            rid = check_created(t, what, status, hdrs, resp)
            rows = il.db_rows(s.db, "SELECT r.organization_name, r.report_id, r.source, "
                              "w.gzip, w.data FROM reports r JOIN report_raw w "
                              "ON w.report = r.id WHERE r.id = ?", (rid,))
            t.is_([(exp.get("organization-name"), exp.get("report-id"), "https",
                    1 if kind == "gzip" else 0, body)],
                  [(o, r, src, g, bytes(d)) for o, r, src, g, d in rows],
                  what + ": stored row (org, report-id, source, raw bytes as sent)")
            status, hdrs, resp = cl.post(body, ctype)
            check_duplicate(t, what + " again", status, resp, rid)
            if rid is not None:
                delete_report(s.db, rid)  # the next form of the same report is new again
    cl.close()


def invalid_cases(t, servers):
    for name, path, exp in il.sample_cases("invalid"):
        cap = exp.get("cap")
        body = open(path, "rb").read()
        if cap is not None and int(cap) < 1024:
            # The smallest max_json the configuration takes is 1K: pad the case (JSON
            # whitespace) past it, so that it is still "over the cap" for the same reason.
            cap = "1024"
            body += b" " * max(0, 1025 - len(body))
        s = servers.get(cap)
        if s is None:
            s = servers[cap] = il.server("accept = any\nmax_json = %s\n" % cap)
        cl = il.Client(s.port)
        ctype = "application/tlsrpt+gzip" if name.endswith(".gz") else "application/tlsrpt+json"
        status, hdrs, resp = cl.post(body, ctype)
        err = il.body_json(resp).get("error", "")
        t.ok(status == int(exp["status"]) and exp["error"] in err and
             hdrs.get("content-type") == "application/json",
             "invalid/%s: %s with an error holding '%s'" % (name, exp["status"], exp["error"]),
             (status, resp))
        cl.close()


def methods_and_types(t, s):
    cl = il.Client(s.port)
    for m in ("GET", "PUT", "DELETE", "HEAD", "OPTIONS"):
        status, hdrs, resp = cl.request(m, "/tlsrpt")
        t.ok(status == 405 and hdrs.get("allow") == "POST" and
             (m == "HEAD" or "POST" in il.body_json(resp).get("error", "")),
             "%s /tlsrpt: 405 with Allow: POST" % m, (status, hdrs, resp))
    body = il.report_bytes("types-0")
    for ctype in ("text/plain", "application/xml", "multipart/form-data; boundary=x",
                  "application/tlsrpt", None):
        status, hdrs, resp = cl.post(body, ctype)
        t.ok(status == 415 and "Content-Type" in il.body_json(resp).get("error", ""),
             "Content-Type %s: 415" % ctype, (status, resp))
    n = 0
    for ctype, gz in (("application/json", False), ("application/json", True),
                      ("application/gzip", True), ("application/octet-stream", False),
                      ("application/octet-stream", True),
                      ("Application/TLSRPT+JSON; charset=utf-8", False),
                      ("application/tlsrpt+json", True)):
        n += 1
        status, hdrs, resp = cl.post(il.report_bytes("types-%d" % n, gz=gz), ctype)
        check_created(t, "Content-Type %s with a %s body is tolerated" %
                      (ctype, "gzip" if gz else "JSON"), status, hdrs, resp)
    status, hdrs, resp = cl.post(il.report_bytes("types-x"), "application/tlsrpt+gzip")
    t.ok(status == 400 and "gzip magic" in il.body_json(resp).get("error", ""),
         "application/tlsrpt+gzip with a JSON body: 400", (status, resp))
    status, hdrs, resp = cl.post(b"", "application/tlsrpt+json")
    t.ok(status == 400 and il.body_json(resp).get("error", "").startswith("$: invalid JSON"),
         "empty body: 400", (status, resp))
    cl.close()


def too_large(t, s):
    """max_body = 1M, max_json = 2M on this server."""
    cl = il.Client(s.port)
    over = il.report_bytes("big-1")[:-1] + b', "padding": "' + b"x" * (1 << 20) + b'"}'
    status, hdrs, resp = cl.post(over)
    t.ok(status == 413 and "max_body" in il.body_json(resp).get("error", ""),
         "HTTP/1.1: a body over max_body gets 413", (status, resp[:200]))
    # h2o answers this one from the Content-Length, before the body: curl reads the answer
    # while still sending (python's http.client would fail writing into the closed socket).
    r = st.curl("https://%s:%d/tlsrpt" % (il.HOST, s.port),
                resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
                headers=["Content-Type: application/tlsrpt+json"], data=b"x" * (3 << 20))
    t.is_((r.status, r.http_version), (413, "1.1"),
          "HTTP/1.1: a body over twice max_body gets 413 from h2o")
    r = st.curl("https://%s:%d/tlsrpt" % (il.HOST, s.port), http2=True,
                resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert,
                headers=["Content-Type: application/tlsrpt+json"], data=over)
    t.ok(r.status == 413 and r.http_version == "2" and
         "max_body" in il.body_json(r.body).get("error", ""),
         "HTTP/2: a body over max_body gets 413", r)
    # 3 MB of JSON whitespace around a report: under max_body once gzipped, over max_json
    # (2 MB) when inflated.
    big_json = b" " * (3 << 20) + il.report_bytes("big-2")
    status, hdrs, resp = cl.post(gzip.compress(big_json), "application/tlsrpt+gzip")
    t.ok(status == 413 and "max_json" in il.body_json(resp).get("error", ""),
         "gzip inflating past max_json: 413", (status, resp))
    status, hdrs, resp = cl.post(il.report_bytes("big-3"))
    check_created(t, "a normal report on the same server afterwards", status, hdrs, resp)
    cl.close()


def http2(t, s):
    url = "https://%s:%d/tlsrpt" % (il.HOST, s.port)
    kw = dict(http2=True, resolve="%s:%d:127.0.0.1" % (il.HOST, s.port), cacert=il.ca().cert)
    body = il.report_bytes("h2-1", gz=True)
    r = st.curl(url, headers=["Content-Type: application/tlsrpt+gzip"], data=body, **kw)
    j = il.body_json(r.body)
    t.ok(r.status == 201 and r.http_version == "2" and j.get("status") == "stored" and
         r.headers.get("content-type") == "application/json", "HTTP/2 POST: 201", r)
    r2 = st.curl(url, headers=["Content-Type: application/tlsrpt+gzip"], data=body, **kw)
    t.is_((r2.status, r2.http_version, il.body_json(r2.body)),
          (200, "2", {"status": "duplicate", "id": j.get("id")}),
          "HTTP/2 POST again: 200 duplicate")
    r3 = st.curl(url, **kw)
    t.ok(r3.status == 405 and r3.headers.get("allow") == "POST", "HTTP/2 GET: 405", r3)
    r4 = st.curl(url, headers=["Content-Type: text/plain"], data=b"x", **kw)
    t.is_(r4.status, 415, "HTTP/2 text/plain: 415")


def hosted(t):
    s = il.server("accept = hosted\n")
    cl = il.Client(s.port)
    status, hdrs, resp = cl.post(il.report_bytes("h-1", domain="b.test"))
    t.ok(status == 422 and "b.test" in il.body_json(resp).get("error", ""),
         "accept = hosted: a report for b.test only gets 422", (status, resp))
    t.is_(il.db_rows(s.db, "SELECT count(*) FROM reports"), [(0,)], "nothing stored for it")
    r = il.report("h-2", domain="b.test")
    p2 = json.loads(json.dumps(r["policies"][0]))
    p2["policy"]["policy-domain"] = "A.TEST."
    r["policies"].append(p2)
    status, hdrs, resp = cl.post(json.dumps(r).encode())
    check_created(t, "a report for b.test and A.TEST. (hosted)", status, hdrs, resp)
    s.write_policy("b.test", il.POLICY.replace("a.test", "b.test"))
    t.ok(s.wait_log("domains=2", timeout=15), "policy reload picks up b.test", s.log()[-2000:])
    status, hdrs, resp = None, None, None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # every loop thread switches its snapshot
        status, hdrs, resp = cl.post(il.report_bytes("h-3-%d" % time.monotonic_ns(),
                                                     domain="b.test"))
        if status != 422:
            break
        time.sleep(0.2)
    check_created(t, "after the reload a report for b.test is accepted", status, hdrs, resp)
    cl.close()
    t.is_(s.stop(), 0, "stsd stops with status 0")


def rate_limit(t):
    s = il.server("accept = any\nrate_limit = 0.2/s\nrate_exempt = 127.0.0.1, ::1\n"
                  "path = /tlsrpt\npath = /v1/reports\n")
    ex = il.Client(s.port)
    status, hdrs, resp = ex.post(il.report_bytes("path-2"), path="/v1/reports")
    check_created(t, "a second [reports] path takes reports too", status, hdrs, resp)
    status, hdrs, resp = ex.post(il.report_bytes("path-3"), path="/v2/reports")
    t.is_(status, 404, "a path that is not configured: 404")
    cl = il.Client(s.port, source="127.0.0.2")
    got = [cl.post(il.report_bytes("rl-%d" % i))[0] for i in range(1)]
    t.is_(got, [201], "127.0.0.2, new: one second's worth of the rate (at least 1), not the burst")
    status, hdrs, resp = cl.post(il.report_bytes("rl-2"))
    ra = hdrs.get("retry-after", "")
    t.ok(status == 429 and ra.isdigit() and 1 <= int(ra) <= 5 and
         "too many" in il.body_json(resp).get("error", ""),
         "127.0.0.2: the second report gets 429 with Retry-After", (status, hdrs, resp))
    t.is_(il.db_rows(s.db, "SELECT count(*) FROM reports WHERE report_id = 'rl-2'"), [(0,)],
          "the refused report is not stored")
    cl3 = il.Client(s.port, source="127.0.0.3")
    t.is_(cl3.post(il.report_bytes("rl-3"))[0], 201, "127.0.0.3 has its own bucket")
    got = [ex.post(il.report_bytes("ex-%d" % i))[0] for i in range(15)]
    t.is_(got, [201] * 15, "127.0.0.1 (rate_exempt) is not limited")
    time.sleep(int(ra) if ra.isdigit() else 5)
    t.is_(cl.post(il.report_bytes("rl-4"))[0], 201, "127.0.0.2 after Retry-After: 201")
    for c in (cl, cl3, ex):
        c.close()


def main(t):
    a = il.server("accept = any\nmax_body = 1M\nmax_json = 2M\n")
    valid_samples(t, a)
    invalid_cases(t, {None: a, "2M": a})
    methods_and_types(t, a)
    too_large(t, a)
    http2(t, a)
    t.ok("event=report.stored id=1 " in a.log(), "the log has report.stored lines")
    t.is_(a.stop(), 0, "stsd stops with status 0")
    hosted(t)
    rate_limit(t)


if __name__ == "__main__":
    st.Tap().run(main)
