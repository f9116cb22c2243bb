#!/usr/bin/env python3
"""test_admin_api.py - the admin JSON API of `stsd serve` end to end.

Starts stsd with the admin listener on loopback after ingesting the sample reports, and
checks every /api/v1 endpoint, /metrics and the token rules (RFC 6750 §3.1): 401 without or
with a wrong token, 400 for bad parameters, 404 for a domain that is not hosted and an
unknown report, the figures against the sums computed here from the JSON files, and the
summary against `stsd reports summary --json`.
"""

import json
import os
import sqlite3
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402


def main(t):
    ca = st.TestCA(st.tempdir("stsd-admin-ca-"))
    leaf = ca.issue("mta-sts.example.com", days=90)
    s = al.start(certs={"mta-sts.example.com": leaf})
    exp = al.expected()
    W = "since=%s&until=%s" % (al.SINCE, al.UNTIL)
    api_401 = api_400 = api_404 = 0

    # --- the token ---------------------------------------------------------------------
    tok = os.path.join(s.state_dir, "admin.token")
    t.is_(stat.S_IMODE(os.stat(tok).st_mode), 0o600, "token file created with mode 0600")
    t.is_(len(s.token), 64, "generated token is 64 hex digits")
    for path in ("/api/v1/domains", "/api/v1/summary", "/metrics", "/"):
        status, h, body = al.get(s, path)
        t.is_(status, 401, "%s without a token: 401" % path)
        t.is_(h.get("www-authenticate"), 'Bearer realm="stsd"',
              "%s without a token: WWW-Authenticate: Bearer realm=\"stsd\"" % path)
        if path.startswith("/api"):
            api_401 += 1
    status, h, body = al.get(s, "/api/v1/domains", token=s.token[:-1] + "x")
    api_401 += 1
    t.is_(status, 401, "wrong token: 401")
    t.ok(h.get("www-authenticate", "").startswith('Bearer realm="stsd", error="invalid_token"'),
         "wrong token: error=\"invalid_token\"", h)
    t.is_(json.loads(body), {"error": "the token does not match"}, "wrong token: JSON error")
    status, h, body = al.get(s, "/api/v1/domains", headers={"Authorization": "Basic eDp5"})
    api_401 += 1
    t.is_(status, 401, "Basic credentials: 401")
    status, h, body = al.get(s, "/api/v1/domains?token=" + s.token)
    t.is_((status, h.get("location")), (303, "/api/v1/domains"),
          "?token= is accepted: 303 to the URL without it")
    cookie = h.get("set-cookie", "")
    t.ok(cookie.startswith("stsd_session=") and s.token not in cookie and "HttpOnly" in cookie and
         "SameSite=Strict" in cookie, "?token= sets an HttpOnly SameSite=Strict session cookie",
         cookie)
    status, h, body = al.get(s, "/api/v1/domains", headers={"Cookie": cookie.split(";")[0]})
    t.is_(status, 200, "the session cookie is accepted")
    status, h, body = al.get(s, "/api/v1/domains", headers={"Cookie": "stsd_token=" + s.token})
    api_401 += 1
    t.is_(status, 401, "the token itself is no cookie")
    status, h, body = al.get(s, "/api/v1/domains", token=s.token, method="POST", body=b"x")
    t.is_(status, 405, "POST: 405")
    t.is_(h.get("allow"), "GET, HEAD", "405 names GET, HEAD")
    status, h, body = al.get(s, "/api/v1/domains", token=s.token, method="HEAD")
    t.ok(status == 200 and body == b"" and int(h.get("content-length", "0")) > 0,
         "HEAD: 200, no body, a content-length", (status, h, body[:80]))

    # --- domains -----------------------------------------------------------------------
    status, j = al.get_json(s, "/api/v1/domains")
    t.is_(status, 200, "GET /api/v1/domains: 200")
    doms = {d["domain"]: d for d in j.get("domains", [])}
    t.is_(sorted(doms), sorted(al.POLICIES), "every hosted domain is listed")
    d = doms.get("example.com", {})
    t.is_((d.get("valid"), d.get("mode"), d.get("max_age"), d.get("mx")),
          (True, "testing", 86400, ["mail.example.com"]), "example.com: mode, max_age, mx")
    t.is_(d.get("policy"), al.POLICIES["example.com"], "example.com: the policy text")
    t.ok(isinstance(d.get("policy_id"), str) and d["policy_id"].isalnum(),
         "example.com: the current policy id", d.get("policy_id"))
    t.is_(d.get("dns"), None, "no check stored yet: dns is null")
    cert = d.get("certificate") or {}
    t.is_(cert.get("file"), "mta-sts.example.com.pem", "certificate file from cert_dir")
    t.ok(cert.get("days_left") in (88, 89, 90), "certificate days_left ~ 90", cert)
    t.is_(doms.get("company-y.example", {}).get("certificate"), None,
          "company-y.example has no certificate")
    status, j = al.get_json(s, "/api/v1/domains/Example.COM")
    t.ok(status == 200 and j.get("domain") == "example.com" and
         [v["id"] for v in j.get("policy_versions", [])] == [d.get("policy_id")],
         "GET /api/v1/domains/<d>: the domain with its versions", j)
    status, j = al.get_json(s, "/api/v1/domains/not-hosted.example")
    api_404 += 1
    t.is_((status, j), (404, {"error": "not-hosted.example is not a hosted domain"}),
          "a domain that is not hosted: 404")
    status, j = al.get_json(s, "/api/v1/domains/bad_domain!")
    api_400 += 1
    t.is_(status, 400, "an invalid domain name: 400")

    # --- reports -----------------------------------------------------------------------
    status, j = al.get_json(s, "/api/v1/reports?" + W)
    t.is_(status, 200, "GET /api/v1/reports: 200")
    reps = j.get("reports", [])
    t.is_(len(reps), len(exp["stored"]) + len(exp["conflicts"]),
          "every stored report is listed once, conflicting copies too")
    t.ok(len(exp["conflicts"]) > 0, "the samples hold a conflicting copy")
    ids = {}
    for r in reps:
        if r.get("conflict_of") is None:
            ids[(r["organization_name"], r["report_id"])] = r["id"]
    marked = [r for r in reps if r.get("conflict_of") is not None]
    t.is_(sorted((r["organization_name"], r["report_id"], r["conflict_of"], r["counted"])
                 for r in marked),
          sorted(k + (ids.get(k), False) for k, _, _, _ in exp["conflicts"]),
          "the conflicting copy is marked with conflict_of (the first copy's id), not counted")
    t.ok(all(r["conflicts"] == 1 for r in reps if r["id"] in
             [ids.get(k) for k, _, _, _ in exp["conflicts"]]),
         "the first copy is marked with its number of conflicting copies")
    if marked:
        status, j = al.get_json(s, "/api/v1/reports/%d" % marked[0]["id"])
        t.ok(status == 200 and j.get("conflict_of") == marked[0]["conflict_of"],
             "GET /api/v1/reports/<id> of the copy: conflict_of", (status, j))
    status, j = al.get_json(s, "/api/v1/summary?" + W)
    t.is_(j.get("totals", {}).get("conflicts"), len(exp["conflicts"]),
          "summary totals: conflicts")
    status, j = al.get_json(s, "/api/v1/reports?domain=company-y.example&" + W)
    t.is_(len(j.get("reports", [])), exp["domains"]["company-y.example"]["reports"] +
          sum(1 for k, _, _, r in exp["conflicts"]
              if any(p["policy"]["policy-domain"] == "company-y.example"
                     for p in r["policies"])),
          "domain filter")
    status, j = al.get_json(s, "/api/v1/reports?limit=2&" + W)
    t.is_(len(j.get("reports", [])), 2, "limit=2")
    status, j = al.get_json(s, "/api/v1/reports")
    t.is_((status, len(j.get("reports", []))), (200, 0),
          "default window (last 30 days) holds none of the old samples")
    for q, what in (("limit=0", "limit=0"), ("limit=x", "limit=x"),
                    ("since=yesterday", "a bad since"), ("until=2024-13-40", "a bad until"),
                    ("since=2024-02-01&until=2024-01-01", "since after until"),
                    ("domain=a..b", "a bad domain"), ("colour=red", "an unknown parameter"),
                    ("since=%zz", "bad percent-encoding")):
        status, j = al.get_json(s, "/api/v1/reports?" + q)
        api_400 += 1
        t.ok(status == 400 and isinstance(j, dict) and j.get("error"),
             "reports with %s: 400 with a JSON error" % what, (status, j))
    # one report by id, and its raw bytes
    by_key = {(r["organization"] if "organization" in r else r.get("organization_name"),
               r["report_id"]): r for r in reps}
    f, raw, rep = exp["stored"][("Google Inc.", "2024-02-17T00:00:00Z_example.com")]
    row = by_key.get(("Google Inc.", "2024-02-17T00:00:00Z_example.com"))
    t.ok(row is not None, "the Google report is in the list", list(by_key)[:3])
    rid = row["id"] if row else 0
    status, j = al.get_json(s, "/api/v1/reports/%d" % rid)
    t.ok(status == 200 and json.dumps(j).count("example.com") > 0 and
         "53" in json.dumps(j), "GET /api/v1/reports/<id>: the report", (status, j))
    status, h, body = al.get(s, "/api/v1/reports/%d/raw" % rid, token=s.token)
    t.is_((status, body), (200, raw), "GET /api/v1/reports/<id>/raw: the original bytes")
    t.is_(h.get("content-type"), "application/tlsrpt+json", "raw: content type")
    status, j = al.get_json(s, "/api/v1/reports/999999")
    api_404 += 1
    t.is_((status, j), (404, {"error": "no report with id 999999"}), "unknown report: 404")
    status, j = al.get_json(s, "/api/v1/reports/12ab")
    api_400 += 1
    t.is_(status, 400, "a report id that is not a number: 400")

    # --- summary: the same numbers as the CLI and as the files -------------------------
    status, j = al.get_json(s, "/api/v1/summary?" + W)
    t.is_(status, 200, "GET /api/v1/summary: 200")
    tot = j.get("totals", {})
    t.is_((tot.get("reports"), tot.get("successful_sessions"), tot.get("failed_sessions")),
          (len(exp["stored"]), exp["total"]["successful"], exp["total"]["failed"]),
          "summary totals equal the sums of the files")
    r = st.run([al.STSD, "-c", s.config, "reports", "summary", "--json", "--since", al.SINCE,
                "--until", al.UNTIL])
    t.is_(j, json.loads(r.out or "null"), "summary equals `stsd reports summary --json`")
    for dname, e in exp["domains"].items():
        status, j = al.get_json(s, "/api/v1/summary?domain=%s&by=day&%s" % (dname, W))
        tot = j.get("totals", {})
        t.is_((tot.get("successful_sessions"), tot.get("failed_sessions")),
              (e["successful"], e["failed"]), "summary for %s" % dname)
        t.is_({x["result_type"]: x["failed_sessions"] for x in j.get("by_result_type", [])},
              e["by_result"], "failures by result type for %s" % dname)
        t.is_({x["mx"]: x["failed_sessions"] for x in j.get("by_mx", [])}, e["by_mx"],
              "failures by MX for %s" % dname)
        r = st.run([al.STSD, "-c", s.config, "reports", "summary", "--json", "--domain", dname,
                    "--by", "day", "--since", al.SINCE, "--until", al.UNTIL])
        t.is_(j, json.loads(r.out or "null"), "summary by day for %s equals the CLI" % dname)
    status, j = al.get_json(s, "/api/v1/summary?by=week")
    api_400 += 1
    t.is_(status, 400, "summary with by=week: 400")

    # --- checks: from the checks table ------------------------------------------------
    status, j = al.get_json(s, "/api/v1/checks")
    t.is_((status, j), (200, {"latest": [], "history": []}), "no checks stored: empty lists")
    db = sqlite3.connect(os.path.join(s.state_dir, "stsd.db"))
    with db:
        for i, (started, errs) in enumerate(((1764400000, 0), (1764403600, 1))):
            cur = db.execute("INSERT INTO checks (domain, started, duration_ms, status, errors, "
                             "warnings, infos, dns_id, result) VALUES (?,?,?,?,?,?,?,?,?)",
                             ("example.com", started, 40 + i, 2 if errs else 1, errs, 1, 0,
                              d.get("policy_id"), '{"domain":"example.com","n":%d}' % i))
            if errs:
                db.execute("INSERT INTO check_findings (check_id, finding, severity, subject, "
                           "message) VALUES (?,?,?,?,?)", (cur.lastrowid, "mx.starttls",
                                                           "error", "mail.example.com",
                                                           "STARTTLS is not offered"))
    db.close()
    status, j = al.get_json(s, "/api/v1/checks?domain=example.com")
    latest = j.get("latest", [])
    t.is_(len(latest), 1, "checks: one latest per domain")
    l0 = latest[0] if latest else {}
    t.is_((l0.get("errors"), l0.get("verdict"), l0.get("result"), l0.get("started")),
          (1, "error", {"domain": "example.com", "n": 1}, "2025-11-29T08:06:40Z"),
          "checks: the latest run with its result")
    t.is_(l0.get("findings"), [{"id": "mx.starttls", "severity": "error",
                                "subject": "mail.example.com",
                                "message": "STARTTLS is not offered"}], "checks: its findings")
    t.is_([h["started"] for h in j.get("history", [])],
          ["2025-11-29T08:06:40Z", "2025-11-29T07:06:40Z"], "checks: history, newest first")
    status, j = al.get_json(s, "/api/v1/checks?limit=1")
    t.is_(len(j.get("history", [])), 1, "checks: limit=1")
    status, j = al.get_json(s, "/api/v1/checks?domain=nope.example")
    api_404 += 1
    t.is_(status, 404, "checks for a domain that is not hosted: 404")
    status, j = al.get_json(s, "/api/v1/domains/example.com")
    t.is_(j.get("dns"), {"checked": "2025-11-29T08:06:40Z", "sts_id": d.get("policy_id"),
                         "in_agreement": True}, "domain: DNS id from the latest check agrees")
    # a broken edit: the last good version stays served, and the API says so
    t.is_(d.get("served"), {"policy_id": d.get("policy_id"), "stale": False},
          "served: this file's id")
    s.write_policy("example.com", "version: STSv1\nmode: Enforce\nmx: mail.example.com\n"
                   "max_age: 86400\n")
    # wait for the reload the edit caused (start-up may log other reloads, e.g. why=sans)
    t.ok(s.wait_log("event=policy.reload why=inotify", count=1, timeout=10),
         "the broken file is noticed")
    status, j = al.get_json(s, "/api/v1/domains/example.com")
    t.ok(j.get("valid") is False and "Enforce" in (j.get("error") or ""),
         "broken file: valid false with the error", j.get("error"))
    t.is_(j.get("served"), {"policy_id": d.get("policy_id"), "stale": True},
          "broken file: the last good version is served")
    t.is_(j.get("dns", {}).get("in_agreement"), True,
          "DNS agreement is judged against the served id")
    status, j = al.get_json(s, "/api/v1/nothing-here")
    api_404 += 1
    t.is_(status, 404, "an unknown API path: 404")

    # --- metrics -----------------------------------------------------------------------
    status, h, body = al.get(s, "/metrics", token=s.token)
    text = body.decode()
    t.is_(status, 200, "GET /metrics: 200")
    t.ok(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
         "metrics content type", h.get("content-type"))
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            series[k] = float(v)
    t.is_(series.get('stsd_http_requests_total{endpoint="api",status="401"}'), float(api_401),
          "requests counted by endpoint and status (401)")
    t.is_(series.get('stsd_http_requests_total{endpoint="api",status="400"}'), float(api_400),
          "requests counted by endpoint and status (400)")
    t.is_(series.get('stsd_http_requests_total{endpoint="api",status="404"}'), float(api_404),
          "requests counted by endpoint and status (404)")
    t.is_(series.get("stsd_reports_stored"), float(len(exp["stored"])), "reports stored")
    for dname, e in exp["domains"].items():
        t.is_((series.get('stsd_sessions{domain="%s",result="successful"}' % dname),
               series.get('stsd_sessions{domain="%s",result="failed"}' % dname)),
              (float(e["successful"]), float(e["failed"])), "sessions of %s" % dname)
        for rt, n in e["by_result"].items():
            t.is_(series.get('stsd_failed_sessions{domain="%s",result_type="%s"}' % (dname, rt)),
                  float(n), "failed sessions of %s, %s" % (dname, rt))
    days = series.get('stsd_certificate_days_left{domain="example.com"}')
    t.ok(days is not None and 88 < days <= 90, "days left on the served certificate", days)
    t.is_(series.get('stsd_certificate_source{domain="example.com",source="file"}'), 1.0,
          "the served certificate is a file's")
    t.is_((series.get('stsd_check_findings{domain="example.com",severity="error"}'),
           series.get('stsd_check_findings{domain="example.com",severity="warning"}')),
          (1.0, 1.0), "findings of the latest check by severity")
    for name in ("stsd_report_posts_total", "stsd_policy_reloads_total",
                 "stsd_policy_files_broken"):
        t.ok("# TYPE %s " % name in text, "metric %s is exposed" % name)
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
