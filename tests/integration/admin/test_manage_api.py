#!/usr/bin/env python3
"""test_manage_api.py - the management API of the admin listener, with the curl CLI (the
requests an operator sends) for every route, against the real `stsd serve`:

  PUT    /api/v1/domains/{d}/policy       201 new, 200 changed (new id), 200 unchanged (same id),
                                          422 {"error","field"} naming each wrong field
  PUT    /api/v1/domains/{d}/certificate  200, then the new certificate is what SNI serves;
                                          422 for a wrong key, a wrong name, an expired one
  POST   /api/v1/domains/{d}/enforce      409 with the reasons `stsd policy advise` gives, then
                                          200 (mode enforce, a new id) once 14 days of clean
                                          reports and a clean check are stored: a real check
                                          ("check now" by the dashboard form) of the domain
                                          whose policy host is this stsd, whose MX is the
                                          checker bed's SMTP server (STARTTLS, the test CA),
                                          and whose DNS publishes what `stsd policy dns` prints
  DELETE /api/v1/domains/{d}              202 mode none with a new id, served at once;
                                          ?now=1: 200, then the policy host answers 404
  POST   /api/v1/check                    200, the findings of `stsd check --json`
  GET    /api/v1/audit                    one row per change, with the old and new ids
and 401 without the token, 404 for a domain that is not hosted, 405 with Allow, 413 past the
body cap. Every change is checked over HTTPS (SNI, the test CA) right after its answer.
"""

import datetime
import json
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "checker"))
import adminlib as al  # noqa: E402
import bed as checkbed  # noqa: E402
from adminlib import st  # noqa: E402

D = "new.test"


def req(s, method, path, body=None, token=True, ctype="application/json", headers=None):
    """One admin request with the curl CLI, as an operator sends it: (status, headers, JSON)."""
    h = []
    if body is not None:
        h.append("Content-Type: " + ctype)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
    if token:
        h.append("Authorization: Bearer " + s.token)
    h += ["%s: %s" % kv for kv in (headers or {}).items()]
    r = st.curl("http://127.0.0.1:%d%s" % (s.admin_port, path), method=method, data=body,
                headers=h)
    try:
        j = json.loads(r.body)
    except ValueError:
        j = None
    return r.status, r.headers, j


def fetch(s, ca, d):
    """The policy as senders fetch it: HTTPS with SNI mta-sts.<d>, verified by the test CA."""
    return st.curl(s.url(d), resolve="mta-sts.%s:%d:127.0.0.1" % (d, s.port), cacert=ca.cert)


def served_serial(s, d):
    """The serial of the certificate the policy listener presents for mta-sts.<d>."""
    r = st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % s.port, "-servername",
                "mta-sts." + d], input=b"", timeout=20)
    x = st.run(["openssl", "x509", "-noout", "-serial"], input=r.stdout, timeout=20)
    return x.out.strip()


def serial(path):
    return st.run(["openssl", "x509", "-noout", "-serial", "-in", path]).out.strip()


def pem(leaf, key=None):
    return open(leaf["chain"]).read() + open(key or leaf["key"]).read()


def form(s, path, cookie=None, fields=None):
    """One dashboard request with the curl CLI: a GET, or a form POST with fields."""
    h = ["Cookie: " + cookie] if cookie else []
    data = None
    if fields is not None:
        h.append("Content-Type: application/x-www-form-urlencoded")
        data = urllib.parse.urlencode(fields).encode()
    return st.curl("http://127.0.0.1:%d%s" % (s.admin_port, path), data=data, headers=h)


def publish(u, records, dns_out):
    """Restart unbound (same address and port) with the TXT records `stsd policy dns`
    printed added to records."""
    txt = [l for l in dns_out.splitlines() if l.startswith("_")]
    u.stop()
    u2 = st.Unbound(records + txt, addr=u.addr, port=u.port)
    u2.start()
    return u2


def mail_server(ca, host, port):
    """The bed's SMTP server (STARTTLS, a certificate of the test CA for host) on
    127.0.0.1:port; stopped at exit."""
    leaf = ca.issue(host, days=365, intermediate=True, name="mx")
    stopping = threading.Event()
    srv = checkbed.SMTPServer(checkbed._listen("127.0.0.1", port), host, "ok",
                              checkbed._server_ctx(leaf["chain"], leaf["key"]), stopping)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()

    def stop():
        stopping.set()
        srv.shutdown()
        srv.server_close()
    st.Cleanup.add(stop)


def report(d, day, ok):
    return {"organization-name": "Rep A", "contact-info": "tlsrpt@rep.example",
            "report-id": "rep-%s-%s" % (d, day), "date-range": {
                "start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
            "policies": [{"policy": {"policy-type": "sts", "policy-domain": d,
                                     "policy-string": ["version: STSv1", "mode: testing"],
                                     "mx-host": ["mail." + d]},
                          "summary": {"total-successful-session-count": ok,
                                      "total-failure-session-count": 0}}]}


def main(t):
    tmp = st.tempdir("stsd-manage-")
    ca = st.TestCA(os.path.join(tmp, "ca"))
    port = st.free_port()
    smtp = st.free_port()
    records = ["new.test. MX 10 mail.new.test.", "mail.new.test. A 127.0.0.1",
               "mta-sts.new.test. A 127.0.0.1", "probe.test. A 127.0.0.1"]
    u = st.Unbound(records)
    u.start()
    mail_server(ca, "mail." + D, smtp)
    extra = ("[checks]\ninterval = off\nresolver = %s@%d\nca_file = %s\nsmtp_port = %d\n"
             "https_port = %d\nallow_private = on\n" % (u.addr, u.port, ca.cert, smtp, port))
    s = st.Stsd(policies={"old.test": "version: STSv1\nmode: testing\nmx: mail.old.test\n"
                                      "max_age: 86400\n"},
                admin=True, listen=["127.0.0.1:%d" % port], extra_config=extra)
    s.start()
    s.token = open(os.path.join(s.state_dir, "admin.token")).read().strip()
    P = "/api/v1/domains/%s/policy" % D
    pol = {"mode": "testing", "mx": ["mail.new.test"], "max_age": 86400}
    changes = []  # (action, old id, new id) in order, for the audit log

    # --- 401 -----------------------------------------------------------------------------
    for method, path in (("PUT", P), ("POST", "/api/v1/domains/%s/enforce" % D),
                         ("DELETE", "/api/v1/domains/old.test"),
                         ("PUT", "/api/v1/domains/%s/certificate" % D),
                         ("POST", "/api/v1/check"), ("GET", "/api/v1/audit")):
        status, h, j = req(s, method, path, body=pol if method != "GET" else None, token=False)
        t.is_((status, h.get("www-authenticate")), (401, 'Bearer realm="stsd"'),
              "%s %s without the token: 401" % (method, path))
    t.ok(not os.path.exists(os.path.join(s.policy_dir, D + ".txt")),
         "nothing was written without the token")

    # --- PUT policy: 201 / 200 unchanged / 200 changed -------------------------------------
    status, h, j = req(s, "PUT", P, pol)
    t.is_(status, 201, "PUT policy of a new domain: 201")
    j = j or {}
    id1 = j.get("policy_id", "")
    t.ok(re.fullmatch(r"[A-Za-z0-9]{1,32}", id1), "201: a policy id", j)
    t.is_((j.get("domain"), j.get("change"), h.get("location")),
          (D, "created", "/api/v1/domains/" + D), "201: domain, change, Location")
    t.is_(j.get("policy"),
          "version: STSv1\r\nmode: testing\r\nmx: mail.new.test\r\nmax_age: 86400\r\n",
          "201: the policy text")
    dns = st.run([al.STSD, "-c", s.config, "policy", "dns", D])
    t.is_(j.get("dns"), [l for l in dns.out.splitlines() if not l.startswith("; MTA-STS")],
          "201: dns holds the records `stsd policy dns` prints")
    t.ok('_mta-sts.new.test. IN TXT "v=STSv1; id=%s"' % id1 in (j.get("dns") or []),
         "201: dns publishes the new id")
    changes.append(("policy.create", None, id1))
    status, h, j = req(s, "PUT", P, pol)
    t.is_((status, (j or {}).get("change"), (j or {}).get("policy_id")), (200, "unchanged", id1),
          "PUT the same policy again: 200 unchanged, same id")

    # --- certificate: then the policy is served over HTTPS ---------------------------------
    C = "/api/v1/domains/%s/certificate" % D
    leaf1 = ca.issue("mta-sts." + D, days=90, name="leaf1")
    r = fetch(s, ca, D)
    t.ok(r.status == 0, "before any certificate: no TLS for mta-sts.new.test", r)
    status, h, j = req(s, "PUT", C, pem(leaf1), ctype="application/x-pem-file")
    t.is_(status, 200, "PUT certificate: 200")
    t.is_(((j or {}).get("host"), (j or {}).get("file")), ("mta-sts." + D, "mta-sts.new.test.pem"),
          "200: host and file")
    t.is_(served_serial(s, D), serial(leaf1["cert"]), "SNI serves the uploaded certificate")
    changes.append(("certificate", None, None))
    r = fetch(s, ca, D)
    t.is_((r.status, r.body.decode()),
          (200, "version: STSv1\r\nmode: testing\r\nmx: mail.new.test\r\nmax_age: 86400\r\n"),
          "the new domain's policy is served over HTTPS")
    leaf2 = ca.issue("mta-sts." + D, days=60, name="leaf2", intermediate=True)
    status, h, j = req(s, "PUT", C, pem(leaf2), ctype="application/x-pem-file")
    t.is_(status, 200, "a second certificate (with an intermediate): 200")
    t.is_(served_serial(s, D), serial(leaf2["cert"]), "the next handshake serves the new one")
    changes.append(("certificate", None, None))
    other = ca.issue("mta-sts.other.test", name="other")
    expired = ca.issue("mta-sts." + D, days=-1, name="expired")
    future = ca.issue("mta-sts." + D, not_before_days=2, name="future")
    for what, body, needle in (
            ("a key that does not match", pem(leaf1, other["key"]), "does not match"),
            ("a certificate for another name", pem(other), "does not cover mta-sts.new.test"),
            ("an expired certificate", pem(expired), "expired"),
            ("a certificate not yet valid", pem(future), "not valid before"),
            ("no key", open(leaf1["chain"]).read(), "private key"),
            ("no certificate", "hello", "no PEM certificate")):
        status, h, j = req(s, "PUT", C, body, ctype="application/x-pem-file")
        t.ok(status == 422 and needle in (j or {}).get("error", ""),
             "PUT certificate with %s: 422 saying so" % what, (status, j))
    t.is_(served_serial(s, D), serial(leaf2["cert"]), "after the refusals: still the same one")
    status, h, j = req(s, "PUT", "/api/v1/domains/nothere.test/certificate", pem(leaf1))
    t.is_(status, 404, "PUT certificate of a domain that is not hosted: 404")

    pol2 = dict(pol, mx=["mail.new.test", "*.mx.new.test"])
    status, h, j = req(s, "PUT", P, pol2)
    id2 = (j or {}).get("policy_id")
    t.ok(status == 200 and (j or {}).get("change") == "changed" and id2 and id2 != id1 and
         (j or {}).get("previous_policy_id") == id1, "PUT a changed policy: 200, a new id",
         (status, j))
    changes.append(("policy.change", id1, id2))
    r = fetch(s, ca, D)
    t.ok(r.status == 200 and b"mx: *.mx.new.test\r\n" in r.body,
         "the changed policy is served at once", r)

    # --- 422 naming the field ----------------------------------------------------------
    bad = [({"mode": "enforcing", "mx": ["mail.new.test"], "max_age": 1}, "mode"),
           ({"mode": 2, "mx": ["mail.new.test"], "max_age": 1}, "mode"),
           ({"mx": ["mail.new.test"], "max_age": 1}, "mode"),
           ({"mode": "testing", "mx": [], "max_age": 1}, "mx"),
           ({"mode": "testing", "mx": ["192.0.2.1"], "max_age": 1}, "mx"),
           ({"mode": "testing", "mx": ["mail.new.test."], "max_age": 1}, "mx"),
           ({"mode": "testing", "mx": "mail.new.test", "max_age": 1}, "mx"),
           ({"mode": "testing", "mx": [7], "max_age": 1}, "mx"),
           ({"mode": "testing", "mx": ["mail.new.test"], "max_age": 31557601}, "max_age"),
           ({"mode": "testing", "mx": ["mail.new.test"], "max_age": -1}, "max_age"),
           ({"mode": "testing", "mx": ["mail.new.test"], "max_age": "86400"}, "max_age"),
           ({"mode": "testing", "mx": ["mail.new.test"]}, "max_age"),
           ({"mode": "testing", "mx": ["mail.new.test"], "max_age": 1, "id": "x"}, "id"),
           ("{not json", ""), ([1, 2], "")]
    for body, field in bad:
        status, h, j = req(s, "PUT", P, body)
        t.ok(status == 422 and (j or {}).get("field") == field and (j or {}).get("error"),
             "422 field %r for %s" % (field, json.dumps(body)[:70]), (status, j))
    status, h, j = req(s, "PUT", "/api/v1/domains/bad_name!/policy", pol)
    t.is_((status, (j or {}).get("field")), (422, "domain"), "an invalid domain: 422 field domain")
    r = fetch(s, ca, D)
    t.ok(r.status == 200 and b"*.mx.new.test" in r.body, "after the 422s: nothing changed", r)
    status, h, j = req(s, "PUT", P, "x" * (64 * 1024 + 1))
    t.is_(status, 413, "a JSON body over 64 KiB: 413")
    status, h, j = req(s, "GET", P)
    t.is_((status, h.get("allow")), (405, "PUT"), "GET on .../policy: 405, Allow: PUT")
    status, h, j = req(s, "PATCH", P, pol)
    t.is_((status, h.get("allow")), (405, "GET, HEAD, PUT, POST, DELETE"),
          "PATCH: 405 with the methods the listener takes")

    # --- enforce: 409 with the advice's reasons, then 200 ----------------------------------
    E = "/api/v1/domains/%s/enforce" % D
    status, h, j = req(s, "POST", E, {"force": False})
    adv = json.loads(st.run([al.STSD, "-c", s.config, "policy", "advise", D, "--json"]).out)
    reasons = [x.get("id") for x in (j or {}).get("reasons", [])]
    t.is_((status, reasons), (409, ["too-few-days", "no-check"]),
          "enforce without reports or a check: 409 with the reasons")
    t.is_(reasons, [b["id"] for b in adv["blockers"]], "the reasons are those of policy advise")
    t.is_([x.get("message") for x in j.get("reasons", [])],
          [b["message"] for b in adv["blockers"]], "... with the same words")
    status, h, j = req(s, "POST", E, {"force": "no"})
    t.is_((status, (j or {}).get("field")), (422, "force"), "force not a boolean: 422")
    status, h, j = req(s, "POST", "/api/v1/domains/nothere.test/enforce", {})
    t.is_(status, 404, "enforce a domain that is not hosted: 404")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    files = []
    for i in range(14):
        p = os.path.join(tmp, "r%d.json" % i)
        with open(p, "w") as f:
            json.dump(report(D, (today - datetime.timedelta(days=i + 1)).isoformat(), 500), f)
        files.append(p)
    r = st.run([al.STSD, "-c", s.config, "reports", "ingest"] + files, timeout=60)
    t.is_(r.returncode, 0, "14 days of clean reports ingested")
    status, h, j = req(s, "POST", E, {})
    t.is_((status, [x.get("id") for x in (j or {}).get("reasons", [])]), (409, ["no-check"]),
          "with the reports: only the missing check blocks")
    # the real self-check: DNS publishes what `stsd policy dns` prints, then "check now"
    # by the dashboard form (session cookie + CSRF token) stores it
    u = publish(u, records, st.run([al.STSD, "-c", s.config, "policy", "dns", D]).out)
    cookie = form(s, "/?token=" + s.token).headers.get("set-cookie", "").split(";")[0]
    m = re.search(rb'name="csrf" value="([0-9a-f]+)"',
                  form(s, "/forms/check?domain=" + D, cookie).body)
    r = form(s, "/forms/check", cookie, {"csrf": m.group(1).decode() if m else "",
                                         "domain": D})
    t.is_((r.status, r.headers.get("location")), (303, "/domains/" + D),
          "check now by the dashboard form: 303")
    status, h, j = req(s, "GET", "/api/v1/checks?domain=" + D)
    latest = (j or {}).get("latest") or [{}]
    errs = [(f.get("id"), f.get("subject"), f.get("message"))
            for f in latest[0].get("findings", []) if f.get("severity") == "error"]
    t.ok(latest[0].get("domain") == D and latest[0].get("errors") == 0 and not errs and
         latest[0].get("dns_id") == id2,
         "the stored check of %s: no error, the published id is the served one" % D,
         (latest[0].get("errors"), latest[0].get("dns_id"), errs))
    status, h, j = req(s, "POST", E, {"force": False})
    id3 = (j or {}).get("policy_id")
    t.ok(status == 200 and id3 and id3 != id2 and "mode: enforce\r\n" in (j or {}).get("policy", ""),
         "enforce once ready: 200, mode enforce, a new id", (status, j))
    changes.append(("enforce", id2, id3))
    r = fetch(s, ca, D)
    t.ok(r.status == 200 and b"mode: enforce\r\n" in r.body, "enforce is served at once", r)
    status, h, j = req(s, "POST", E, {})
    t.is_((status, (j or {}).get("change"), (j or {}).get("policy_id")), (200, "unchanged", id3),
          "enforce again: 200 unchanged")

    # --- check ---------------------------------------------------------------------------
    status, h, j = req(s, "POST", "/api/v1/check", {"domain": D})
    cli = st.run([al.STSD, "check", "--json", "-c", s.config, "--resolver",
                  "%s@%d" % (u.addr, u.port), "--ca-file", ca.cert, "--smtp-port", str(smtp),
                  "--https-port", str(port), D], timeout=120)
    try:
        cj = json.loads(cli.out)
    except ValueError:
        cj = {}

    def findings(x):
        return [(f["id"], f["severity"], f["subject"]) for dom in (x or {}).get("domains", [])
                for f in dom.get("findings", [])]
    t.ok(status == 200 and findings(j) and findings(j) == findings(cj),
         "POST /api/v1/check: 200, the findings of stsd check --json", (status, findings(j),
                                                                         findings(cj)))
    t.is_([d.get("verdict") for d in (j or {}).get("domains", [])],
          [d.get("verdict") for d in cj.get("domains", [])], "... and the same verdict")
    status, h, j = req(s, "POST", "/api/v1/check", {"domain": 5})
    t.is_((status, (j or {}).get("field")), (422, "domain"), "check without a domain name: 422")

    # --- withdraw ------------------------------------------------------------------------
    status, h, j = req(s, "DELETE", "/api/v1/domains/" + D)
    j = j or {}
    id4 = j.get("policy_id")
    until = j.get("withdraw_until", "")
    t.ok(status == 202 and j.get("mode") == "none" and id4 and id4 != id3,
         "DELETE: 202, mode none with a new id", (status, j))
    try:
        left = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp() - time.time()
    except ValueError:
        left = 0
    t.ok(86400 - 120 < left <= 86400 + 5, "withdraw_until is the old max_age (1 day) from now",
         until)
    changes.append(("withdraw", id3, id4))
    r = fetch(s, ca, D)
    t.ok(r.status == 200 and b"mode: none\r\n" in r.body,
         "mode none is served over HTTPS at once", r)
    status, h, j = req(s, "GET", "/api/v1/domains/" + D)
    t.is_((status, (j or {}).get("policy_id")), (200, id4), "still hosted while withdrawn")
    status, h, j = req(s, "DELETE", "/api/v1/domains/%s?now=1" % D)
    t.is_((status, (j or {}).get("removed")), (200, True), "DELETE ?now=1: 200 removed")
    changes.append(("remove", id4, None))
    r = fetch(s, ca, D)
    t.is_(r.status, 404, "then the policy host answers 404")
    status, h, j = req(s, "GET", "/api/v1/domains/" + D)
    t.is_(status, 404, "and the API 404")
    status, h, j = req(s, "DELETE", "/api/v1/domains/" + D)
    t.is_(status, 404, "DELETE of a domain that is not hosted: 404")

    # --- audit ---------------------------------------------------------------------------
    status, h, j = req(s, "GET", "/api/v1/audit?domain=" + D)
    rows = list(reversed((j or {}).get("audit", [])))
    got = [(r.get("action"), r.get("old_policy_id") or None, r.get("new_policy_id") or None)
           for r in rows]
    t.is_(got, changes, "the audit log: one row per change, with the old and new ids")
    t.ok(all(r.get("actor") == "api" and r.get("domain") == D and
             re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.get("time", "")) for r in rows),
         "each row: time, actor api, domain", rows)
    status, h, j = req(s, "GET", "/api/v1/audit?limit=2")
    t.is_((status, len((j or {}).get("audit", []))), (200, 2), "limit=2: the newest two")
    status, h, j = req(s, "GET", "/api/v1/audit?limit=0")
    t.is_(status, 400, "limit=0: 400")


st.Tap().run(main)
