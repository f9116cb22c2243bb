#!/usr/bin/env python3
"""test_window_words.py - the CLI and the admin API read a report window and a domain name
with the same parser and validator: the same values are accepted with the same result, and
the same values are refused with the same words.

`stsd reports list --json` against GET /api/v1/reports on one server with the sample reports:
for each accepted (since, until, domain) the same reports (ids) come back; for each refused
value the CLI exits 64 with `stsd: <message>` and the API answers 400 with {"error": message},
the message the same (for a domain, the same reason after the name).
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "admin"))
import adminlib as al  # noqa: E402
from adminlib import st  # noqa: E402

EXPECT = "expected YYYY-MM-DD, an RFC 3339 time or a relative 30d/12h"


def cli(s, since, until, domain):
    cmd = [al.STSD, "-c", s.config, "reports", "list", "--json"]
    for flag, v in (("--since", since), ("--until", until), ("--domain", domain)):
        if v is not None:
            cmd += [flag, v]
    return st.run(cmd, timeout=60)


def api(s, since, until, domain):
    q = {k: v for k, v in (("since", since), ("until", until), ("domain", domain))
         if v is not None}
    return al.get_json(s, "/api/v1/reports?" + urllib.parse.urlencode(q))


def main(t):
    s = al.start()
    accepted = [
        (al.SINCE, al.UNTIL, None),
        ("2010-01-01T00:00:00Z", "2030-01-01", None),
        (al.SINCE, al.UNTIL, "Company-Y.Example."),  # any case, one trailing dot
        (al.SINCE, al.UNTIL, "example.com"),
        (None, None, None),  # the last 30 days: none of the old samples
        ("30d", None, None),
        ("2024-01-01", "2024-01-01", None),  # an empty window is no error
    ]
    for since, until, domain in accepted:
        what = "since=%s until=%s domain=%s" % (since, until, domain)
        r = cli(s, since, until, domain)
        status, j = api(s, since, until, domain)
        t.is_((r.returncode, status), (0, 200), what + ": CLI exit 0, API 200")
        try:
            ids_cli = sorted(x["id"] for x in json.loads(r.out)["reports"])
        except (ValueError, KeyError, TypeError):
            ids_cli = None
        ids_api = sorted(x["id"] for x in (j.get("reports", []) if isinstance(j, dict) else []))
        t.is_(ids_cli, ids_api, what + ": the same %d reports" % len(ids_api))
    status, j = api(s, al.SINCE, al.UNTIL, None)
    t.ok(len(j.get("reports", [])) > 5, "the full window holds the samples", j)

    refused = [
        ("yesterday", None, None, "since 'yesterday': " + EXPECT),
        (None, "2026-13-01", None, "until '2026-13-01': " + EXPECT),
        ("30", None, None, "since '30': " + EXPECT),
        ("45s", None, None, "since '45s': " + EXPECT),
        ("2026-11-29", "2026-11-01", None, "since is after until"),
        (None, "2001-01-01", None, "since is after until"),
        ("x" * 60, None, None, "since '%s': %s" % ("x" * 40, EXPECT)),
    ]
    for since, until, domain, want in refused:
        what = "since=%s until=%s" % (since and since[:20], until)
        r = cli(s, since, until, domain)
        status, j = api(s, since, until, domain)
        t.is_((r.returncode, r.err.strip()), (64, "stsd: " + want), what + ": CLI exit 64, " + want)
        t.is_((status, j), (400, {"error": want}), what + ": API 400, the same words")

    names = [
        ("a_b.example", "has a character other than letters, digits, hyphens and dots"),
        ("192.0.2.1", "is an IP address; write a host name"),
        ("com", "is a single label; write a fully qualified host name"),
        ("example.com..", "has a trailing dot; remove it"),
        ("*.example.com", "has a wildcard that is not a whole left-most label ('*.' prefix)"),
        ("b\u00fccher.example",
         "is not in A-labels; write internationalized names in their xn-- form"),
        ("a" * 64 + ".example", "has a label longer than 63 characters"),
    ]
    for name, why in names:
        r = cli(s, al.SINCE, al.UNTIL, name)
        status, j = api(s, al.SINCE, al.UNTIL, name)
        t.is_((r.returncode, r.err.strip()), (64, "stsd: --domain '%s' %s" % (name, why)),
              "--domain %.20s: exit 64, %s" % (name, why))
        t.is_((status, j), (400, {"error": "domain: '%s' %s" % (name[:80], why)}),
              "domain=%.20s: 400, the same reason" % name)
    s.stop()


if __name__ == "__main__":
    st.Tap().run(main)
