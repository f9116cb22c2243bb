#!/usr/bin/env python3
"""test_forms.py - the dashboard's management forms (POST application/x-www-form-urlencoded
with a per-session CSRF token) against the real `stsd serve`.

Logs in with ?token= (303 + session cookie), reads the CSRF token from the form the server
renders (GET /forms/{action}?domain=D), and checks that a POST without the token, with a wrong
one, with another session's or without a session cookie is refused with 403 and changes
nothing (the policy served over HTTPS stays the same), that a valid POST answers 303 to the
domain's page and the change is served at once, that a bad field answers 422 naming it, and
that "check now" stores the domain's latest check, and that the audit log says "dashboard".
"""

import json
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

D = "form.test"
POLICY = "version: STSv1\nmode: testing\nmx: mail.form.test\nmax_age: 86400\n"


def login(s):
    status, h, body = al.get(s, "/?token=" + s.token)
    return h.get("set-cookie", "").split(";")[0]


def csrf_of(s, cookie, action="policy", domain=D):
    status, h, body = al.get(s, "/forms/%s?domain=%s" % (action, domain),
                             headers={"Cookie": cookie})
    m = re.search(rb'name="csrf" value="([0-9a-f]*)"', body)
    return status, (m.group(1).decode() if m else None), body


def post(s, action, fields, cookie=None, token=None):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        h["Cookie"] = cookie
    return al.get(s, "/forms/" + action, token=token, headers=h, method="POST",
                  body=urllib.parse.urlencode(fields).encode())


def main(t):
    ca = st.TestCA(st.tempdir("stsd-forms-ca-"))
    leaf = ca.issue("mta-sts." + D)
    u = st.Unbound(["form.test. MX 10 mail.form.test.", "mail.form.test. A 127.0.0.1",
                    "mta-sts.form.test. A 127.0.0.1", "probe.test. A 127.0.0.1"])
    u.start()
    port = st.free_port()
    extra = ("[checks]\ninterval = off\nresolver = %s@%d\nca_file = %s\nsmtp_port = %d\n"
             "https_port = %d\nallow_private = on\n" % (u.addr, u.port, ca.cert, st.free_port(),
                                                       port))
    s = st.Stsd(policies={D: POLICY}, certs={"mta-sts." + D: leaf}, admin=True,
                listen=["127.0.0.1:%d" % port], extra_config=extra)
    s.start()
    s.token = open(os.path.join(s.state_dir, "admin.token")).read().strip()

    def served():
        r = st.curl(s.url(D), resolve="mta-sts.%s:%d:127.0.0.1" % (D, s.port), cacert=ca.cert)
        return r.status, r.body.decode("utf-8", "replace")

    before = served()
    t.is_(before, (200, POLICY.replace("\n", "\r\n")), "the policy is served over HTTPS")
    cookie = login(s)
    t.ok(cookie.startswith("stsd_session="), "logged in with ?token=", cookie)
    status, tok, page = csrf_of(s, cookie)
    t.ok(status == 200 and tok and len(tok) == 64, "the form carries a CSRF token", page[:300])
    t.ok(b'action="/forms/policy"' in page and b'<option selected>testing</option>' in page and
         b"mail.form.test" in page and b'value="86400"' in page,
         "the policy form is filled with the current policy", page)
    t.ok(b"<script" not in page, "no script on the form page")
    status, tok_b, _ = csrf_of(s, cookie, "enforce")
    t.is_(tok_b, tok, "one token per session, whatever the form")
    other = login(s)
    status, tok_other, _ = csrf_of(s, other)
    t.ok(tok_other and tok_other != tok, "another session has another token")

    change = {"domain": D, "mode": "enforce", "mx": "mail.form.test\r\n*.mx.form.test",
              "max_age": "604800"}

    # --- refused: 403, nothing changes ---------------------------------------------------
    for what, fields, ck, token in (
            ("without the CSRF token", change, cookie, None),
            ("with a wrong CSRF token", dict(change, csrf="0" * 64), cookie, None),
            ("with a truncated token", dict(change, csrf=tok[:-1]), cookie, None),
            ("with another session's token", dict(change, csrf=tok_other), cookie, None),
            ("with the token but no session cookie (bearer)", dict(change, csrf=tok), None,
             s.token)):
        status, h, body = post(s, "policy", fields, ck, token)
        t.ok(status == 403 and b"CSRF" in body, "a form POST %s: 403" % what, (status, body[:200]))
        t.is_(served(), before, "... and the served policy is unchanged")
    with open(os.path.join(s.policy_dir, D + ".txt")) as f:
        t.is_(f.read(), POLICY, "the policy file is untouched")
    status, h, body = al.get(s, "/forms/policy", headers={"Cookie": cookie,
                                                          "Content-Type": "text/plain"},
                             method="POST", body=("csrf=%s&domain=%s" % (tok, D)).encode())
    t.is_(status, 415, "a form POST that is not urlencoded: 415")
    status, h, body = post(s, "policy", dict(change, csrf=tok, pad="x" * (64 * 1024)), cookie)
    t.is_(status, 413, "a form body over 64 KiB: 413")
    t.is_(served(), before, "... nothing changed")

    # --- a bad field: 422 naming it -------------------------------------------------------
    status, h, body = post(s, "policy", dict(change, csrf=tok, max_age="soon"), cookie)
    t.ok(status == 422 and b"max_age" in body and b"text/html" in h.get("content-type", "").encode(),
         "max_age not a number: 422, an HTML page naming the field", (status, body[:300]))
    t.is_(served(), before, "... nothing changed")
    status, h, body = post(s, "policy", dict(change, csrf=tok, mx="192.0.2.1"), cookie)
    t.ok(status == 422 and b"Field: <code>mx</code>" in body, "an IP address as mx: 422 mx",
         (status, body[:300]))

    # --- accepted: 303 to the domain's page, served at once --------------------------------
    status, h, body = post(s, "policy", dict(change, csrf=tok), cookie)
    t.is_((status, h.get("location")), (303, "/domains/" + D),
          "a form POST with the token: 303 to the domain's page")
    status2, text = served()
    t.ok(status2 == 200 and "mode: enforce\r\n" in text and "mx: *.mx.form.test\r\n" in text and
         "max_age: 604800\r\n" in text, "the change is served over HTTPS at once", text)
    status, h, body = post(s, "policy", {"csrf": tok, "domain": "added.form.test",
                                         "mode": "testing", "mx": "mail.form.test",
                                         "max_age": "86400"}, cookie)
    t.is_((status, h.get("location")), (303, "/domains/added.form.test"),
          "a new domain by form: 303 to its page")
    t.ok(os.path.exists(os.path.join(s.policy_dir, "added.form.test.txt")),
         "... and its policy file exists")

    # --- the other actions -----------------------------------------------------------------
    status, h, body = post(s, "enforce", {"csrf": tok, "domain": "added.form.test"}, cookie)
    t.ok(status == 409 and b"too-few-days" not in body and b"reports on 0 day(s)" in body,
         "enforce by form when not ready: 409 with the reasons", (status, body[:400]))
    leaf2 = ca.issue("mta-sts." + D, name="leaf2")
    pem = open(leaf2["chain"]).read() + open(leaf2["key"]).read()
    status, h, body = post(s, "certificate", {"csrf": tok, "domain": D, "pem": pem}, cookie)
    t.is_((status, h.get("location")), (303, "/domains/" + D), "certificate by form: 303")
    r = st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % s.port, "-servername",
                "mta-sts." + D], input=b"", timeout=20)
    got = st.run(["openssl", "x509", "-noout", "-serial"], input=r.stdout).out
    want = st.run(["openssl", "x509", "-noout", "-serial", "-in", leaf2["cert"]]).out
    t.is_(got, want, "... and SNI serves it")
    status, h, body = post(s, "certificate", {"csrf": tok, "domain": D,
                                              "pem": open(leaf2["chain"]).read()}, cookie)
    t.ok(status == 422 and b"private key" in body, "a certificate without its key: 422",
         (status, body[:300]))
    status, h, body = al.get(s, "/api/v1/checks?domain=" + D, token=s.token)
    t.is_(json.loads(body).get("latest"), [], "no check stored yet")
    status, h, body = post(s, "check", {"csrf": tok, "domain": D}, cookie)
    t.is_((status, h.get("location")), (303, "/domains/" + D), "check now by form: 303")
    status, h, body = al.get(s, "/api/v1/checks?domain=" + D, token=s.token)
    latest = json.loads(body).get("latest", [])
    errs = [f["id"] for f in (latest[0].get("findings", []) if latest else [])
            if f["severity"] == "error"]
    t.ok(len(latest) == 1 and latest[0].get("domain") == D and
         latest[0].get("errors") == len(errs) and "mx.unreachable" in errs,
         "... and stored as the latest check (no SMTP server on the MX: mx.unreachable)", latest)
    status, h, body = post(s, "check", {"csrf": tok, "domain": "nothere.test"}, cookie)
    t.ok(status == 404 and b"not a hosted domain" in body, "check now of a domain not hosted: 404",
         (status, body[:200]))
    status, h, body = post(s, "withdraw", {"csrf": tok, "domain": D}, cookie)
    t.is_((status, h.get("location")), (303, "/domains/" + D), "withdraw by form: 303")
    status2, text = served()
    t.ok(status2 == 200 and "mode: none\r\n" in text, "mode none is served at once", text)
    status, h, body = post(s, "withdraw", {"csrf": tok, "domain": D, "now": "1"}, cookie)
    t.is_((status, h.get("location")), (303, "/"), "remove at once by form: 303 to the overview")
    t.is_(served()[0], 404, "the policy host answers 404")

    # --- the audit log names the dashboard ----------------------------------------------
    status, h, body = al.get(s, "/api/v1/audit?domain=" + D, token=s.token)
    rows = json.loads(body).get("audit", [])
    t.is_([r["action"] for r in reversed(rows)],
          ["enforce", "certificate", "withdraw", "remove"],
          "audit: every change made by form, none of the refused ones")
    t.ok(rows and all(r["actor"] == "dashboard" for r in rows), "audit: actor dashboard", rows)


st.Tap().run(main)
