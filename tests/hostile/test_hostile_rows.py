#!/usr/bin/env python3
"""test_hostile_rows.py - a report of 46 policies x 10,000 failure-details.

A small gzip body that asks for 460,000 failure-detail rows. It must be stored with at most
[reports] max_detail_rows detail rows, the rest merged into one row per (policy,
result-type), every total exact (per policy and per result type, compared with the sums this
script computes itself), and another reporter's ordinary reports, POSTed every 100 ms while
the big one is inflated, parsed, merged and stored, each stored (201) within 1 s.
"""

import gzip
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il

POLICIES, DETAILS = 46, 10000
MAX_DETAIL_ROWS = 1000
TYPES = ["certificate-expired", "starttls-not-supported", "validation-failure",
         "certificate-host-mismatch", "x-vendor-specific"]


def big_report():
    """The report (dict) and the expected sums {(domain, result-type): failed sessions}."""
    pols, want = [], {}
    for i in range(POLICIES):
        dom = "a.test" if i == 0 else "p%d.example" % i
        details = []
        for j in range(DETAILS):
            rt = TYPES[(i + j) % len(TYPES)]
            n = 1 + (j % 7)
            details.append({"result-type": rt, "failed-session-count": n})
            want[(dom, rt)] = want.get((dom, rt), 0) + n
        pols.append({"policy": {"policy-type": "sts", "policy-domain": dom,
                                "policy-string": ["version: STSv1", "mode: enforce"],
                                "mx-host": ["mx0." + dom]},
                     "summary": {"total-successful-session-count": 1000 + i,
                                 "total-failure-session-count": sum(
                                     d["failed-session-count"] for d in details)},
                     "failure-details": details})
    r = {"organization-name": "Row Bomber", "report-id": "rows-460000",
         "contact-info": "x@bomber.example",
         "date-range": {"start-datetime": "2026-11-02T00:00:00Z",
                        "end-datetime": "2026-11-02T23:59:59Z"},
         "policies": pols}
    return r, want


def main(t):
    r, want = big_report()
    raw = json.dumps(r, separators=(",", ":")).encode()
    body = gzip.compress(raw, 9)
    t.diag("report: %d policies x %d failure-details = %d; %.1f MB JSON, %.0f KB gzip" % (
        POLICIES, DETAILS, POLICIES * DETAILS, len(raw) / 1e6, len(body) / 1e3))

    s = il.server(reports=hl.OPEN_INTAKE + "max_json = 64M\nmax_values = 3000000\n"
                  "parse_memory = 2G\nmax_detail_rows = %d\n" % MAX_DETAIL_ROWS)
    st.Cleanup.add(s.stop)

    # Another reporter: one ordinary report every 100 ms from the moment the big body is sent
    # until 1 s after its answer, each on its own keep-alive connection.
    done = threading.Event()
    small = []  # (seconds to the answer, status, id)

    def ordinary():
        c = il.Client(s.port)
        k = 0
        while not done.is_set():
            k += 1
            t0 = time.monotonic()
            status, _, data = c.post(il.report_bytes("ordinary-%d" % k, org="Ordinary Sender"))
            small.append((time.monotonic() - t0, status, il.body_json(data).get("id")))
            time.sleep(0.1)
        c.close()

    th = threading.Thread(target=ordinary, daemon=True)
    big = il.Client(s.port, timeout=120)
    t0 = time.monotonic()
    th.start()
    status, _, data = big.post(body, "application/tlsrpt+gzip")
    big_s = time.monotonic() - t0
    time.sleep(1.0)
    done.set()
    th.join(30)
    ans = il.body_json(data)
    t.is_((status, ans.get("status")), (201, "stored"), "the 460,000-detail report is stored")
    t.diag("big report answered in %.2f s; VmHWM %.0f MB" % (big_s, hl.vm_hwm_mb(s.proc.pid)))
    rid = ans.get("id", 0)

    lat = [x[0] for x in small]
    t.ok(len(small) >= 3, "ordinary reports were sent meanwhile (%d)" % len(small))
    t.is_(sorted(set(x[1] for x in small)), [201], "every ordinary report: 201")
    t.ok(small and max(lat) < 1.0, "every ordinary report stored within 1 s (max %.3f s)" %
         (max(lat) if lat else -1), hl.summary(lat))
    t.diag("ordinary reports meanwhile: " + hl.summary(lat))

    rows = il.db_rows(s.db, "SELECT COUNT(*) FROM failure_details WHERE report = ?", (rid,))[0][0]
    t.ok(0 < rows <= MAX_DETAIL_ROWS, "at most max_detail_rows = %d detail rows stored (%d)" %
         (MAX_DETAIL_ROWS, rows))
    t.diag("detail rows stored: %d for %d details" % (rows, POLICIES * DETAILS))
    got = {(d, rt): n for d, rt, n in il.db_rows(
        s.db, "SELECT p.policy_domain, f.result_type, SUM(f.failed_session_count) "
        "FROM failure_details f JOIN report_policies p ON p.id = f.policy "
        "WHERE f.report = ? GROUP BY 1, 2", (rid,))}
    t.is_(got, want, "failed sessions per (policy, result-type) exact (%d pairs)" % len(want))
    merged = il.db_rows(
        s.db, "SELECT COUNT(*), COUNT(DISTINCT policy) FROM failure_details WHERE report = ? "
        "AND receiving_mx_hostname IS NULL AND additional_information LIKE "
        "'stsd: % failure-details merged into this row%'", (rid,))[0]
    t.is_(merged, (len(want), POLICIES),
          "one recognisable merged row per (policy, result-type), NULL mx hostname")
    pols = il.db_rows(s.db, "SELECT policy_domain, successful, failed FROM report_policies "
                      "WHERE report = ? ORDER BY id", (rid,))
    t.is_(pols, [(p["policy"]["policy-domain"], p["summary"]["total-successful-session-count"],
                  p["summary"]["total-failure-session-count"]) for p in r["policies"]],
          "policy totals as sent")

    # The summary (what an operator reads) agrees, per result type and for one domain.
    by_rt = {}
    for (d, rt), n in want.items():
        by_rt[rt] = by_rt.get(rt, 0) + n
    res = st.run([os.environ["STSD_BIN"], "-c", s.config, "reports", "summary", "--json",
                  "--since", "2026-11-02", "--until", "2026-11-03"], timeout=60)
    j = json.loads(res.out) if res.returncode == 0 else {}
    t.is_({x["result_type"]: x["failed_sessions"] for x in j.get("by_result_type", [])}, by_rt,
          "summary by_result_type equals the sums of the 460,000 details")
    t.is_(j.get("totals", {}).get("failed_sessions"),
          sum(p["summary"]["total-failure-session-count"] for p in r["policies"]),
          "summary failed sessions")
    res = st.run([os.environ["STSD_BIN"], "-c", s.config, "reports", "summary", "--json",
                  "--domain", "p7.example", "--since", "2026-11-02", "--until", "2026-11-03"],
                 timeout=60)
    j = json.loads(res.out) if res.returncode == 0 else {}
    t.is_({x["result_type"]: x["failed_sessions"] for x in j.get("by_result_type", [])},
          {rt: n for (d, rt), n in want.items() if d == "p7.example"},
          "summary --domain p7.example by_result_type exact")
    t.ok(s.wait_log("event=report.details_merged", 5), "the merge is logged")
    t.is_(s.stop(), 0, "stsd serve exits 0")


st.Tap().run(main)
