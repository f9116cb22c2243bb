#!/usr/bin/env python3
"""test_admin_webhook.py - scheduled self-checks and the alert webhook of `stsd serve`.

A real unbound serves wh.test; stsd serves its policy (certificate from a test CA) and runs
its self-checks every 60 s against that unbound. The webhook receiver is a python
http.server on 127.0.0.1 that this test starts only a few seconds after stsd:

  1. the first alert (the served certificate expires within [alerts] cert_days) finds the
     receiver down; stsd retries with backoff while policy GETs keep their normal latency,
     and the alert arrives once the receiver is up: exactly one certificate.expiring body;
  2. a report with 40% failed sessions stored while stsd runs: exactly one
     reports.failure_rate body with the report's numbers;
  3. the _mta-sts TXT record disappears from DNS (unbound restarted without it): the next
     check has a new error, and exactly one check.regression body names sts.txt.missing.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

D = "wh.test"
POLICY = "version: STSv1\nmode: testing\nmx: mail.wh.test\nmax_age: 86400\n"


def records(with_sts=True):
    r = ["%s. MX 10 mail.%s." % (D, D), "mail.%s. A 127.0.0.1" % D,
         "mta-sts.%s. A 127.0.0.1" % D,
         '_smtp._tls.%s. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@%s"' % (D, D)]
    if with_sts:
        r.append('_mta-sts.%s. TXT "v=STSv1; id=20240101T000000"' % D)
    return r


def main(t):
    dns = st.Unbound(records())
    dns.start(probe="mail.%s." % D)
    ca = st.TestCA(st.tempdir("stsd-wh-ca-"))
    leaf = ca.issue("mta-sts." + D, days=90)
    hook_port = st.free_port()
    smtp_closed = st.free_port()
    # the https_port of the checks is stsd's own listener: known only once Stsd picked it
    s = st.Stsd(policies={D: POLICY}, certs={"mta-sts." + D: leaf}, admin=True, checks=True)
    extra = ("[checks]\ninterval = 60s\nresolver = %s@%d\nca_file = %s\nsmtp_port = %d\n"
             "https_port = %d\nallow_private = on\n[alerts]\n"
             "webhook = http://127.0.0.1:%d/hook\ncert_days = 365\nfailure_rate = 0.05\n" % (dns.addr, dns.port, ca.cert, smtp_closed, s.port,
                                        hook_port))
    with open(s.config, "a") as f:
        f.write(extra)
    t0 = time.monotonic()
    s.start()
    token = open(os.path.join(s.state_dir, "admin.token")).read().strip()

    # --- 1. receiver down: retried, serving unaffected -----------------------------------
    t.ok(s.wait_log("event=alert.failed attempt=1", timeout=10),
         "the first delivery fails while the receiver is down", s.log()[-2000:])
    lat = []
    statuses = set()
    while time.monotonic() - t0 < 4.0:
        a = time.monotonic()
        r = st.curl(s.url(D), resolve="mta-sts.%s:%d:127.0.0.1" % (D, s.port),
                    cacert=ca.cert, timeout=5)
        lat.append(time.monotonic() - a)
        statuses.add(r.status)
    t.is_(statuses, {200}, "policy GETs answer 200 while the webhook is retried (%d GETs)" %
          len(lat))
    t.ok(max(lat) < 1.0, "policy GET latency stays normal while retrying (max %.0f ms)" %
         (max(lat) * 1000), lat)
    rec = al.Receiver(hook_port)
    t.ok(rec.wait("certificate.expiring", timeout=40),
         "the certificate alert arrives once the receiver is up", s.log()[-2000:])
    c = rec.kinds("certificate.expiring")
    body = c[0][3] if c else {}
    t.is_((body.get("name"), body.get("file"), body.get("threshold_days")),
          ("mta-sts." + D, "mta-sts.%s.pem" % D, 365), "certificate alert: name, file, threshold")
    t.ok(body.get("days_left") in (88, 89, 90) and body.get("not_after", "").endswith("Z"),
         "certificate alert: days_left and not_after", body)
    t.is_(c[0][1:3] if c else None, ("/hook", "application/json"),
          "POSTed as application/json to the webhook path")
    # serve logs alert.sent once the receiver's answer is read: a moment after it arrived
    deadline = time.monotonic() + 10
    sent = []
    while not sent and time.monotonic() < deadline:
        sent = [l for l in s.log().splitlines() if "event=alert.sent" in l]
        time.sleep(0.05)
    attempt = int(sent[0].split("attempt=")[1].split()[0]) if sent else 0
    t.ok(attempt >= 2, "delivered on a retry (attempt %d), not lost" % attempt, sent)

    # --- 2. failure rate of newly stored reports ------------------------------------------
    t.ok(s.wait_log("event=check.done domain=%s" % D, timeout=30), "the first check ran",
         s.log()[-2000:])
    rep = os.path.join(s.dir, "bad.json")
    with open(rep, "w") as f:
        json.dump({"organization-name": "Alert Test", "contact-info": "x@example.net",
                   "report-id": "alert-1",
                   "date-range": {"start-datetime": "2026-11-28T00:00:00Z",
                                  "end-datetime": "2026-11-28T23:59:59Z"},
                   "policies": [{"policy": {"policy-type": "sts", "policy-domain": D,
                                            "policy-string": ["version: STSv1"],
                                            "mx-host": ["mail." + D]},
                                 "summary": {"total-successful-session-count": 6,
                                             "total-failure-session-count": 4},
                                 "failure-details": [{"result-type": "certificate-expired",
                                                      "receiving-mx-hostname": "mail." + D,
                                                      "failed-session-count": 4}]}]}, f)
    r = st.run([al.STSD, "-c", s.config, "reports", "ingest", rep])
    t.ok(r.returncode == 0, "a report with failures is stored", r.err)
    t.ok(rec.wait("reports.failure_rate", timeout=30), "a failure-rate alert arrives")
    fr = rec.kinds("reports.failure_rate")
    b = fr[0][3] if fr else {}
    t.is_((b.get("domain"), b.get("reports"), b.get("successful_sessions"),
           b.get("failed_sessions"), b.get("failure_rate"), b.get("threshold")),
          (D, 1, 6, 4, 0.4, 0.05), "failure-rate alert: the new report's numbers")

    # --- 3. a regression: DNS loses the _mta-sts record ------------------------------------
    status, j = al.get_json(s,
                            "/api/v1/checks?domain=" + D, token=token)
    first = (j.get("latest") or [{}])[0] if isinstance(j, dict) else {}
    first_errors = [f["id"] for f in first.get("findings", []) if f["severity"] == "error"]
    t.ok(status == 200 and first.get("domain") == D and "sts.txt.missing" not in first_errors,
         "the first stored check has no sts.txt.missing", first_errors)
    dns.stop()
    dns2 = st.Unbound(records(with_sts=False), port=dns.port, directory=st.tempdir())
    dns2.start(probe="mail.%s." % D)
    t.ok(rec.wait("check.regression", timeout=90), "a regression alert arrives after the next "
         "check", s.log()[-3000:])
    time.sleep(2)
    reg = rec.kinds("check.regression")
    t.is_(len(reg), 1, "exactly one regression call")
    b = reg[0][3] if reg else {}
    ids = [e["id"] for e in b.get("new_errors", [])]
    t.is_((b.get("domain"), b.get("previous_check_id")), (D, first.get("id")),
          "regression: domain and the previous check")
    t.ok("sts.txt.missing" in ids and not (set(ids) & set(first_errors)),
         "regression: only new errors, sts.txt.missing among them", ids)
    status, j = al.get_json(s,
                            "/api/v1/checks?domain=" + D, token=token)
    latest = (j.get("latest") or [{}])[0]
    t.is_((len(j.get("history", [])), latest.get("id")), (2, b.get("check_id")),
          "both checks are stored; the latest is the one alerted on")
    t.is_(sorted(c[3].get("kind") for c in rec.calls),
          ["certificate.expiring", "check.regression", "reports.failure_rate"],
          "no other webhook call")
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
