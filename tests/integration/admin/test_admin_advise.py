#!/usr/bin/env python3
"""test_admin_advise.py - `stsd policy advise DOMAIN [--json]` on a database seeded from
reports (ingested with `stsd reports ingest`) and stored self-checks.

Thresholds under test (cli/cmd_policy_advise.c): reports on at least 14 days of the window,
at most 0.1% failed sessions, a stored check whose latest run has no error.
  few.test    5 days of reports, 5% failed, no check    -> too-few-days, failures, no-check
  fail.test   15 days, 0.2% failed, a clean check        -> failures
  ready.test  15 days, no failure, a check with an error -> check-errors; after a clean
              check -> ready, with the exact `stsd policy set` command and TXT record; after
              running that command -> enforce, nothing left to do.
"""

import datetime
import json
import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402


def policy(d, mode="testing"):
    return "version: STSv1\nmode: %s\nmx: mail.%s\nmax_age: 86400\n" % (mode, d)


def report(d, day, ok, bad, org):
    det = [{"result-type": "certificate-expired", "receiving-mx-hostname": "mail." + d,
            "failed-session-count": bad}] if bad else []
    return {"organization-name": org, "contact-info": "tlsrpt@" + org.split()[-1] + ".example",
            "report-id": "%s-%s-%s" % (org, d, day), "date-range": {
                "start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
            "policies": [{"policy": {"policy-type": "sts", "policy-domain": d,
                                     "policy-string": policy(d).splitlines(),
                                     "mx-host": ["mail." + d]},
                          "summary": {"total-successful-session-count": ok,
                                      "total-failure-session-count": bad},
                          "failure-details": det}]}


def add_check(dbpath, d, started, errors):
    db = sqlite3.connect(dbpath)
    with db:
        cur = db.execute("INSERT INTO checks (domain, started, duration_ms, status, errors, "
                         "warnings, infos, dns_id, result) VALUES (?,?,?,?,?,?,?,?,?)",
                         (d, started, 50, 2 if errors else 0, errors, 0, 0, None, "{}"))
        if errors:
            db.execute("INSERT INTO check_findings (check_id, finding, severity, subject, "
                       "message) VALUES (?,?,?,?,?)", (cur.lastrowid, "mx.starttls", "error",
                                                       "mail." + d, "STARTTLS is not offered"))
    db.close()


def advise(conf, d, json_out=True):
    r = st.run([al.STSD, "-c", conf, "policy", "advise", d] + (["--json"] if json_out else []))
    if not json_out:
        return r.returncode, r.out
    try:
        return r.returncode, json.loads(r.out)
    except ValueError:
        return r.returncode, {"unparsable": r.out, "err": r.err}


def main(t):
    tmp = st.tempdir("stsd-advise-")
    state = os.path.join(tmp, "state")
    os.makedirs(os.path.join(state, "policies"))
    conf = os.path.join(tmp, "stsd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nstate_dir = %s\n" % state)
    for d in ("few.test", "fail.test", "ready.test"):
        with open(os.path.join(state, "policies", d + ".txt"), "w") as f:
            f.write(policy(d))
    today = datetime.datetime.now(datetime.timezone.utc).date()
    files = []
    plan = {"few.test": (5, 100, 5), "fail.test": (15, 1000, 2), "ready.test": (15, 1000, 0)}
    for d, (days, ok, bad) in plan.items():
        for i in range(days):
            day = (today - datetime.timedelta(days=i + 1)).isoformat()
            org = "Rep A" if i % 2 == 0 else "Rep B"
            p = os.path.join(tmp, "%s-%d.json" % (d, i))
            with open(p, "w") as f:
                json.dump(report(d, day, ok, bad, org), f)
            files.append(p)
    r = st.run([al.STSD, "-c", conf, "reports", "ingest"] + files, timeout=60)
    t.ok(r.returncode == 0 and r.out.count("stored") == len(files),
         "%d seeded reports ingested" % len(files), r.out + r.err)
    r = st.run([al.STSD, "-c", conf, "policy", "list"])
    t.is_(r.returncode, 0, "policy list records the current ids")
    dbpath = os.path.join(state, "stsd.db")
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())

    # --- few.test: everything blocks ------------------------------------------------------
    rc, j = advise(conf, "few.test")
    t.is_(rc, 1, "few.test: exit 1 (blocked)")
    t.is_((j.get("mode"), j.get("target_mode"), j.get("ready")), ("testing", "enforce", False),
          "few.test: testing -> enforce, not ready")
    t.is_((j.get("days_with_reports"), j.get("reports"), j.get("successful_sessions"),
           j.get("failed_sessions")), (5, 5, 500, 25), "few.test: days, reports, sessions")
    t.is_(j.get("reporters"), [
        {"organization": "Rep A", "reports": 3, "successful_sessions": 300, "failed_sessions": 15},
        {"organization": "Rep B", "reports": 2, "successful_sessions": 200, "failed_sessions": 10}],
        "few.test: reporters")
    t.is_(j.get("failures_by_result_type"),
          [{"result_type": "certificate-expired", "failed_sessions": 25}],
          "few.test: failed sessions by cause")
    t.is_([b["id"] for b in j.get("blockers", [])], ["too-few-days", "failures", "no-check"],
          "few.test: blocked by too few days, failures and no check")
    t.is_(j.get("thresholds"), {"min_days": 14, "max_failure_rate": 0.001,
                                "max_check_errors": 0}, "thresholds in the JSON")
    t.is_(j.get("next_step"), None, "few.test: no next step")
    rc, text = advise(conf, "few.test", json_out=False)
    t.ok("not ready for enforce; blocked by:" in text and
         "reports on 5 day(s) in the window; at least 14 are needed" in text and
         "25 of 525 sessions failed (4.76%); at most 0.10% may fail" in text,
         "few.test: the text says what blocks it", text)

    # --- fail.test: only the failure rate blocks -----------------------------------------
    add_check(dbpath, "fail.test", now - 60, 0)
    rc, j = advise(conf, "fail.test")
    t.is_((rc, [b["id"] for b in j.get("blockers", [])]), (1, ["failures"]),
          "fail.test: 0.2% failed blocks (threshold 0.1%)")
    t.is_(j.get("days_with_reports"), 15, "fail.test: 15 days of reports")

    # --- ready.test: a check error blocks, then ready ------------------------------------
    add_check(dbpath, "ready.test", now - 120, 1)
    rc, j = advise(conf, "ready.test")
    t.is_((rc, [b["id"] for b in j.get("blockers", [])]), (1, ["check-errors"]),
          "ready.test: an error in the latest check blocks")
    t.is_([f["id"] for f in (j.get("latest_check") or {}).get("findings", [])], ["mx.starttls"],
          "ready.test: the latest check's findings are shown")
    add_check(dbpath, "ready.test", now - 60, 0)
    rc, j = advise(conf, "ready.test")
    t.is_((rc, j.get("ready"), j.get("blockers")), (0, True, []), "ready.test: ready, exit 0")
    ns = j.get("next_step") or {}
    t.is_(ns.get("commands"),
          ["stsd policy set ready.test --mode enforce --mx mail.ready.test --max-age 604800"],
          "ready.test: the exact policy change")
    txt = ns.get("txt") or {}
    t.ok(txt.get("name") == "_mta-sts.ready.test." and
         re.fullmatch(r"v=STSv1; id=[A-Za-z0-9]{1,32}", txt.get("value", "")) and
         txt.get("id") != j.get("policy_id") and txt.get("value", "").endswith(txt.get("id", "")),
         "ready.test: the new _mta-sts TXT with a new id", (txt, j.get("policy_id")))
    rc, text = advise(conf, "ready.test", json_out=False)
    t.ok(rc == 0 and "ready: move to enforce." in text and
         "1. stsd policy set ready.test --mode enforce --mx mail.ready.test --max-age 604800"
         in text and '_mta-sts.ready.test. IN TXT "v=STSv1; id=' in text,
         "ready.test: the text gives the command and the record", text)
    # follow the advice: the command works as printed, and then nothing is left to do
    cmd = ns.get("commands", ["stsd"])[0].split()[1:]
    r = st.run([al.STSD, "-c", conf] + cmd)
    t.ok(r.returncode == 0, "the advised command runs", r.out + r.err)
    rc, j = advise(conf, "ready.test")
    t.is_((rc, j.get("mode"), j.get("max_age"), j.get("target_mode"), j.get("blockers")),
          (0, "enforce", 604800, None, []), "after it: enforce, nothing left to do")

    # --- errors --------------------------------------------------------------------------
    rc, j = advise(conf, "nothere.test")
    t.is_(rc, 66, "a domain that is not hosted: exit 66")
    r = st.run([al.STSD, "-c", conf, "policy", "advise"])
    t.is_(r.returncode, 64, "no domain: exit 64")
    r = st.run([al.STSD, "-c", conf, "policy", "advise", "bad_name!"])
    t.is_(r.returncode, 64, "an invalid domain: exit 64")


st.Tap().run(main)
