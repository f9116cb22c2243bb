#!/usr/bin/python3
"""test_hostile_alerts.py - forged reports must not reach the alert webhook or grow /metrics.

Alerts and metrics: only hosted domains raise alerts and have per-domain series;
result_type label values are the RFC 8460 list plus "other"; /metrics is answered from
counters, not by scanning the report tables. The attacker here:

 1. fills the database with 100,000 reports (python sqlite3 into the real schema, after a first
    start created it) naming 1,000 made-up domains and 500 made-up result types: /metrics must
    answer in under 100 ms (measured from outside, every scrape), with at most 12 result_type
    values and series for the hosted domain only;
 2. POSTs forged reports ([reports] accept = any) naming 1,000 unhosted domains, every session
    failed, then one genuine report for the hosted domain with a high failure rate: the webhook
    receiver (a tiny HTTP server on loopback counting POSTs; allow_private = on so that stsd may
    connect to it) gets the hosted domain's failure-rate alert and nothing for the 1,000 others.
 3. Without allow_private, a webhook on 127.0.0.1 is refused at connect time: 0 POSTs arrive.
"""
import json
import os
import sqlite3
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

sys.path.insert(0, os.path.join(hl.SOURCE_ROOT, "tests/integration/admin"))
import adminlib as al  # noqa: E402  (the webhook receiver)

st, il = hl.st, hl.il
HOSTED = "a.test"
N_STORED = 100000
N_FORGED_DOMAINS = 1000
RFC = {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
       "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
       "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
       "other"}


def scrape(s, token):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % s.admin_port,
                                 headers={"Authorization": "Bearer " + token})
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    return time.monotonic() - t0, body


def series(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def label_values(text, label):
    vals = set()
    for line in text.splitlines():
        if line.startswith("#") or (label + '="') not in line:
            continue
        vals.add(line.split(label + '="', 1)[1].split('"', 1)[0])
    return vals


def fill(db_path):
    """N_STORED reports, one policy each, one failure detail each, spread over 1,000 made-up
    domains and 500 made-up result types (and every 10th one for the hosted domain)."""
    c = sqlite3.connect(db_path)
    with c:
        base = c.execute("SELECT coalesce(max(id), 0) FROM reports").fetchone()[0]
        reps, pols, fds = [], [], []
        for i in range(N_STORED):
            rid = base + 1 + i
            dom = HOSTED if i % 10 == 0 else "forged%d.example" % (i % N_FORGED_DOMAINS)
            rt = "certificate-expired" if i % 20 == 0 else "made-up-type-%d" % (i % 500)
            reps.append((rid, "Filler", "fill-%d" % i, 1764374400, 1764460799, 1764460800,
                         "file", 9, 1))
            pols.append((rid, rid, 1764374400, "sts", dom, "[]", "[]", 9, 1))
            fds.append((rid, rid, 1764374400, rt, 1))
        c.executemany("INSERT INTO reports (id, organization_name, report_id, start_time, "
                      "end_time, received, source, successful, failed) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", reps)
        c.executemany("INSERT INTO report_policies (id, report, start_time, policy_type, "
                      "policy_domain, policy_string, mx_host, successful, failed) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", pols)
        c.executemany("INSERT INTO failure_details (policy, report, start_time, result_type, "
                      "failed_session_count) VALUES (?,?,?,?,?)", fds)
    c.close()


def forged_report(i, domains):
    r = il.report("forged-%d" % i, domain=domains[0], org="Forger")
    pol = r["policies"][0]
    r["policies"] = []
    for j, d in enumerate(domains):
        p = json.loads(json.dumps(pol))
        p["policy"]["policy-domain"] = d
        p["summary"] = {"total-successful-session-count": 0, "total-failure-session-count": 50}
        p["failure-details"] = [{"result-type": "forged-type-%d-%d" % (i, j),
                                 "failed-session-count": 50}]
        r["policies"].append(p)
    return json.dumps(r).encode()


def main(t):
    hook_port = st.free_port()
    rec = al.Receiver(hook_port)
    s = st.Stsd(policies={HOSTED: il.POLICY}, certs={il.HOST: il.ca().leaf}, admin=True,
                extra_config="[reports]\n" + hl.OPEN_INTAKE + "accept = any\n"
                "[alerts]\nwebhook = http://127.0.0.1:%d/hook\nfailure_rate = 0.05\n"
                "cert_days = 0\n[checks]\nallow_private = on\n" % hook_port)
    db = os.path.join(s.state_dir, "stsd.db")
    s.start()
    t.is_(s.stop(), 0, "a first start creates the database")
    t0 = time.monotonic()
    fill(db)
    t.diag("filled %d reports in %.1f s" % (N_STORED, time.monotonic() - t0))
    s.start()
    token = open(os.path.join(s.state_dir, "admin.token")).read().strip()
    t.ok(s.wait_log("event=metrics.loaded", timeout=60, count=2),
         "the counters are loaded at start",
         s.log()[-2000:])
    loaded = [l for l in s.log().splitlines() if "event=metrics.loaded" in l]
    t.diag(loaded[-1] if loaded else "no metrics.loaded line")

    # --- 1. /metrics with 100,000 stored reports --------------------------------------------
    times = []
    body = ""
    for _ in range(20):
        dt, body = scrape(s, token)
        times.append(dt)
    t.diag("/metrics: %d scrapes, max %.1f ms, median %.1f ms, %d bytes" %
           (len(times), max(times) * 1000, sorted(times)[len(times) // 2] * 1000, len(body)))
    t.ok(max(times) < 0.100, "/metrics answers in under 100 ms with %d reports stored (max %.1f ms)"
         % (N_STORED, max(times) * 1000))
    m = series(body)
    t.is_(m.get("stsd_reports_stored"), float(N_STORED), "stsd_reports_stored counts every report")
    rts = label_values(body, "result_type")
    t.ok(len(rts) <= 12 and rts <= RFC, "result_type values: %d, all RFC 8460 or other" % len(rts),
         sorted(rts)[:20])
    t.is_(label_values(body, "domain"), {HOSTED}, "per-domain series for the hosted domain only")
    hosted_ok = N_STORED // 10 * 9  # 9 successful, 1 failed in each
    t.is_((m.get('stsd_sessions{domain="%s",result="successful"}' % HOSTED),
           m.get('stsd_sessions{domain="%s",result="failed"}' % HOSTED),
           m.get('stsd_failed_sessions{domain="%s",result_type="certificate-expired"}' % HOSTED),
           m.get('stsd_failed_sessions{domain="%s",result_type="other"}' % HOSTED)),
          (float(hosted_ok), float(N_STORED // 10), float(N_STORED // 20),
           float(N_STORED // 20)),
          "the hosted domain's sums over the stored reports")

    # --- 2. forged reports for 1,000 unhosted domains, then a genuine one ----------------------
    domains = ["unhosted%d.example" % i for i in range(N_FORGED_DOMAINS)]
    cl = il.Client(s.port)
    statuses = []
    per = 20
    for i in range(0, N_FORGED_DOMAINS, per):
        st_, _, _ = cl.post(forged_report(i // per, domains[i:i + per]))
        statuses.append(st_)
    t.is_(set(statuses), {201}, "%d forged reports stored (accept = any)" % len(statuses))
    genuine = il.report("genuine-1", domain=HOSTED, org="Genuine Sender")
    genuine["policies"][0]["summary"] = {"total-successful-session-count": 10,
                                         "total-failure-session-count": 5}
    genuine["policies"][0]["failure-details"][0]["failed-session-count"] = 5
    st_, _, _ = cl.post(json.dumps(genuine).encode())
    t.is_(st_, 201, "the genuine report for the hosted domain is stored")
    cl.close()
    rec.wait("reports.failure_rate", timeout=20)
    # one more alert scan (every 5 s) for anything that would come late
    time.sleep(6)
    calls = [(c[3].get("kind"), c[3].get("domain"), c[3]) for c in rec.calls]
    fr = [(d, j) for k, d, j in calls if k == "reports.failure_rate"]
    t.is_([d for d, _ in fr], [HOSTED], "exactly one failure-rate alert, for the hosted domain")
    j = fr[0][1] if fr else {}
    t.is_((j.get("successful_sessions"), j.get("failed_sessions")), (10, 5),
          "the alert carries the genuine report's numbers")
    t.is_([c for c in calls if c[1] != HOSTED], [],
          "0 webhook POSTs for the %d unhosted domains" % N_FORGED_DOMAINS)
    t.ok("event=alert.failure_rate domain=unhosted" not in s.log(),
         "no failure-rate alert logged for an unhosted domain")

    dt, body = scrape(s, token)
    m = series(body)
    rts = label_values(body, "result_type")
    t.ok(len(rts) <= 12 and rts <= RFC and "other" in rts,
         "after the forged reports: %d result_type values" %
         len(rts), sorted(rts)[:20])
    t.is_(label_values(body, "domain"), {HOSTED}, "still no series for unhosted domains")
    t.is_((m.get("stsd_reports_stored"),
           m.get('stsd_sessions{domain="%s",result="failed"}' % HOSTED)),
          (float(N_STORED + len(statuses) + 1), float(N_STORED // 10 + 5)),
          "the counters follow the stored reports (writer hook)")
    t.ok(dt < 0.100, "/metrics still under 100 ms (%.1f ms)" % (dt * 1000))

    # a report another process stores (e-mail ingest) is added from its rows within seconds
    path = os.path.join(s.dir, "ingested.json")
    with open(path, "wb") as f:
        f.write(il.report_bytes("ingested-1", domain=HOSTED, org="Mail Sender"))
    r = st.run([os.environ["STSD_BIN"], "-c", s.config, "reports", "ingest", path])
    t.is_(r.returncode, 0, "stsd reports ingest stores one more report")
    want = (float(N_STORED + len(statuses) + 2), float(N_STORED // 10 + 5 + 2))
    got = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and got != want:
        m = series(scrape(s, token)[1])
        got = (m.get("stsd_reports_stored"),
               m.get('stsd_sessions{domain="%s",result="failed"}' % HOSTED))
        time.sleep(0.5)
    t.is_(got, want, "the ingested report is counted (catch-up with other processes' rows)")
    t.is_(s.stop(), 0, "stsd stops cleanly")

    # --- 3. without allow_private the webhook never connects to the loopback receiver ----------
    before = len(rec.calls)
    s = st.Stsd(policies={HOSTED: il.POLICY}, certs={il.HOST: il.ca().leaf}, admin=False,
                extra_config="[alerts]\nwebhook = http://127.0.0.1:%d/hook\ncert_days = 365\n"
                % hook_port)
    s.start()
    t.ok(s.wait_log("event=alert.refused address=127.0.0.1", timeout=15),
         "the certificate alert's delivery to 127.0.0.1 is refused", s.log()[-1500:])
    t.ok(s.wait_log("event=alert.failed attempt=2", timeout=10), "and retried like any failure")
    t.is_(len(rec.calls) - before, 0, "the receiver on loopback got no POST without allow_private")
    t.is_(s.stop(), 0, "stsd stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
