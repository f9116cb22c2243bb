#!/usr/bin/env python3
"""test_dashboard_forms.py - the dashboard's forms in a real browser: Debian's chromedriver
drives headless Chromium (W3C WebDriver, adminlib.WebDriver).

The browser logs in with /?token= (303 + session cookie), opens the form that adds a domain
(/forms/policy), types the domain, mode, max_age and mx and presses the button: the answer is
a 303 to the new domain's page, which shows the policy, and the policy is served over HTTPS
at once (curl, the test CA); the audit log names the dashboard; the domain page offers
"check now" (pressing it is test_forms.py's: it needs a resolver). A POST of the same form with the browser's session cookie but
without the CSRF token is refused (403) and hosts nothing.
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

D = "browser.test"


def main(t):
    ca = st.TestCA(st.tempdir("stsd-forms-ca-"))
    leaf = ca.issue("mta-sts." + D, sans=["mta-sts." + D, "mta-sts.nocsrf.test"])
    s = al.start(policies={}, certs={"mta-sts." + D: leaf}, ingest=False)
    base = "http://127.0.0.1:%d" % s.admin_port
    with al.WebDriver() as b:
        b.go("%s/?token=%s" % (base, s.token))
        t.is_(b.url(), base + "/", "the browser followed the 303 to / (token out of the URL)")
        t.ok(any(c["name"] == "stsd_session" for c in b.cookies()), "with a session cookie")
        b.go(base + "/forms/policy")
        b.type("form.form-policy input[name=domain]", D)
        b.click("form.form-policy select[name=mode] option:nth-child(1)")  # testing
        b.type("form.form-policy input[name=max_age]", "86400")
        b.type("form.form-policy textarea[name=mx]", "mx1.%s\nmx2.%s" % (D, D))
        b.click("form.form-policy button")
        t.is_(b.url_after(base + "/forms/policy"), "%s/domains/%s" % (base, D),
              "the form answers with the domain's page")
        page = b.source()
        t.ok("mode: testing" in page and "mx: mx2.%s" % D in page, "which shows the policy")
        r = st.curl(s.url(D), resolve="mta-sts.%s:%d:127.0.0.1" % (D, s.port), cacert=ca.cert)
        t.is_((r.status, r.body.decode()),
              (200, "version: STSv1\r\nmode: testing\r\nmx: mx1.%s\r\nmx: mx2.%s\r\n"
                    "max_age: 86400\r\n" % (D, D)),
              "the policy set by the form is served over HTTPS at once")
        status, api = al.get_json(s, "/api/v1/audit?domain=" + D)
        t.ok(status == 200 and any(a.get("actor") == "dashboard" for a in api.get("audit", [])),
             "the audit log says the dashboard did it", api)

        t.ok('class="form-check"' in page and 'action="/forms/check"' in page,
             "the domain page offers check now")
        t.ok("<script" not in page, "no script on the domain page")

        cookie = "; ".join("%s=%s" % (c["name"], c["value"]) for c in b.cookies())
    body = urllib.parse.urlencode({"domain": "nocsrf.test", "mode": "testing",
                                   "mx": "mx.nocsrf.test", "max_age": "86400"}).encode()
    status, h, out = al.get(s, "/forms/policy", method="POST", body=body,
                            headers={"Cookie": cookie,
                                     "Content-Type": "application/x-www-form-urlencoded"})
    t.is_(status, 403, "the same form without the CSRF token, with the browser's session: 403")
    status, js = al.get_json(s, "/api/v1/domains/nocsrf.test")
    t.is_(status, 404, "and nothing is hosted")
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
