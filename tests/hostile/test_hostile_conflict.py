#!/usr/bin/env python3
"""test_hostile_conflict.py - a forged copy posted ahead of the genuine report: both are stored.

An attacker who guesses a reporter's report-id posts a forged report first. The genuine one
that follows must be stored too (201 conflict, conflict_of the forged copy's id), both marked
in `stsd reports list` (text and --json), `show` and the admin API, the summary counting the
group once with "conflicts": 1, and one webhook raised for it. The same content again, by
HTTPS or by e-mail, stays a 200 duplicate; conflicts for a domain that is not hosted raise no
alert.
"""

import email.mime.application
import email.mime.multipart
import email.mime.text
import gzip
import http.server
import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
STSD = os.environ["STSD_BIN"]
RID = "2026-11-03T00:00:00Z_a.test"
WINDOW = ["--since", "2026-11-01", "--until", "2026-11-10"]


def copy(successful, failed, rt, domain="a.test", rid=RID):
    r = il.report(rid, domain=domain, org="Google Inc.")
    r["date-range"] = {"start-datetime": "2026-11-03T00:00:00Z",
                       "end-datetime": "2026-11-03T23:59:59Z"}
    p = r["policies"][0]
    p["summary"] = {"total-successful-session-count": successful,
                    "total-failure-session-count": failed}
    p["failure-details"] = [{"result-type": rt, "receiving-mx-hostname": "mx1." + domain,
                             "failed-session-count": failed}]
    return r


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Hooks.got.append(json.loads(self.rfile.read(n) or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def eml(report):
    m = email.mime.multipart.MIMEMultipart()
    m["From"] = "noreply-smtp-tls-reporting@google.com"
    m["To"] = "tlsrpt@a.test"
    m["Subject"] = "Report Domain: a.test Submitter: google.com Report-ID: <%s>" % RID
    m.attach(email.mime.text.MIMEText("TLS report"))
    part = email.mime.application.MIMEApplication(
        gzip.compress(json.dumps(report, indent=2).encode()), "tlsrpt+gzip")
    part.add_header("Content-Disposition", "attachment", filename="google.com!a.test.json.gz")
    m.attach(part)
    return m.as_bytes()


def main(t):
    hook = http.server.HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    st.Cleanup.add(hook.shutdown)
    c = il.ca()
    s = st.Stsd(policies={"a.test": il.POLICY}, certs={il.HOST: c.leaf}, threads=2, admin=True,
                extra_config="[reports]\n" + hl.OPEN_INTAKE +
                "[alerts]\nwebhook = http://127.0.0.1:%d/hook\n[checks]\nallow_private = on\n"
                % hook.server_address[1])
    s.db = os.path.join(s.state_dir, "stsd.db")
    s.start()
    st.Cleanup.add(s.stop)

    def stsd(*args, input=None):
        return st.run([STSD, "-c", s.config, "reports"] + list(args), timeout=60, input=input)

    forged = copy(0, 50, "certificate-expired")
    genuine = copy(500, 2, "starttls-not-supported")
    cl = il.Client(s.port)
    status, _, data = cl.post(json.dumps(forged).encode())
    first = il.body_json(data)
    t.is_((status, first.get("status")), (201, "stored"), "the forged copy comes first: 201")
    m = first.get("id", -1)
    status, _, data = cl.post(gzip.compress(json.dumps(genuine).encode()),
                              "application/tlsrpt+gzip")
    second = il.body_json(data)
    t.is_(status, 201, "the genuine copy: 201, stored")
    n = second.get("id", -2)
    t.is_(second, {"status": "conflict", "id": n, "conflict_of": m},
          'the genuine copy: {"status":"conflict","id":N,"conflict_of":M}')
    t.ok(n > m, "a new id for the genuine copy (%d after %d)" % (n, m))
    status, _, data = cl.post(json.dumps(genuine, indent=1).encode())
    t.is_((status, il.body_json(data)), (200, {"status": "duplicate", "id": n}),
          "the genuine content again (JSON, other spacing): 200 duplicate of its copy")
    status, _, data = cl.post(gzip.compress(json.dumps(forged).encode()),
                              "application/tlsrpt+gzip")
    t.is_((status, il.body_json(data)), (200, {"status": "duplicate", "id": m}),
          "the forged content again (gzip): 200 duplicate of its copy")
    res = stsd("ingest", "-", input=eml(genuine))
    t.ok(res.returncode == 0 and res.out.startswith("duplicate id=%d " % n),
         "the genuine report by e-mail: a duplicate of the genuine copy", res)

    # Conflicts for a domain not hosted here (ingest accepts any): no alert.
    res = stsd("ingest", "-", input=json.dumps(copy(1, 1, "validation-failure",
                                                     "elsewhere.example", "other-id")).encode())
    t.ok(res.returncode == 0 and res.out.startswith("stored "), "unhosted: first copy", res)
    res = stsd("ingest", "-", input=json.dumps(copy(2, 1, "validation-failure",
                                                     "elsewhere.example", "other-id")).encode())
    t.ok(res.returncode == 0 and res.out.startswith("conflict id=") and " conflict_of=" in res.out,
         "ingest prints a conflict line and exits 0", res)

    # list, show
    res = stsd("list", *WINDOW)
    lines = {int(x.split()[0]): x for x in res.out.splitlines() if x[:1].isdigit()}
    t.ok(lines.get(n, "").endswith("CONFLICT of %d" % m), "list: the genuine copy is marked",
         res.out)
    t.ok(lines.get(m, "").endswith("CONFLICT: 1 other copy"), "list: the forged copy is marked",
         res.out)
    res = stsd("list", "--json", *WINDOW)
    rows = {r["id"]: r for r in json.loads(res.out)["reports"]} if res.returncode == 0 else {}
    t.is_([(rows.get(i, {}).get("conflict_of"), rows.get(i, {}).get("conflicts"),
            rows.get(i, {}).get("counted")) for i in (m, n)],
          [(None, 1, True), (m, 0, False)], "list --json: conflict_of, conflicts, counted")
    res = stsd("show", str(n))
    t.ok("a copy of report %d with other content" % m in res.out, "show marks the copy", res)

    # the admin API
    token = open(os.path.join(s.state_dir, "admin.token")).read().strip()

    def api(path, raw=False):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (s.admin_port, path),
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
            return data.decode() if raw else json.loads(data)

    j = api("/api/v1/reports?since=2026-11-01&until=2026-11-10&domain=a.test")
    got = {r["id"]: (r["conflict_of"], r["conflicts"], r["counted"]) for r in j["reports"]}
    t.is_(got, {m: (None, 1, True), n: (m, 0, False)}, "API /api/v1/reports marks both copies")
    j = api("/api/v1/reports/%d" % n)
    t.is_((j.get("conflict_of"), j.get("counted")), (m, False),
          "API /api/v1/reports/{id}: conflict_of")

    page = api("/?since=2026-11-01&until=2026-11-10", raw=True)
    t.ok('data-k="conflicts">2<' in page, "the dashboard shows the conflicting copies")

    # the summary counts the group once (the first stored copy)
    res = stsd("summary", "--json", "--domain", "a.test", *WINDOW)
    tot = json.loads(res.out)["totals"] if res.returncode == 0 else {}
    t.is_((tot.get("reports"), tot.get("conflicts"), tot.get("failed_sessions")), (1, 1, 50),
          'summary: the group counted once (the first stored copy), "conflicts": 1')
    res = stsd("summary", *WINDOW)
    t.ok("conflicts            2 " in res.out, "summary text shows the conflicts (all domains)",
         res.out)

    # one webhook, for the hosted domain only
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
            h.get("kind") == "reports.conflict" for h in Hooks.got):
        time.sleep(0.2)
    time.sleep(6)  # one more alert scan: nothing else may come
    conf = [h for h in Hooks.got if h.get("kind") == "reports.conflict"]
    t.is_([(h.get("id"), h.get("conflict_of"), h.get("domain"), h.get("report_id"))
           for h in conf], [(n, m, "a.test", RID)],
          "one conflict webhook, for the hosted domain only")
    t.ok(s.wait_log("event=alert.conflict id=%d " % n, 1), "alert.conflict logged")
    t.is_(s.stop(), 0, "stsd serve exits 0")


st.Tap().run(main)
