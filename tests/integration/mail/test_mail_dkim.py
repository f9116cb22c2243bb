#!/usr/bin/python3
"""DKIM verification of e-mailed reports, end to end.

A real unbound on loopback publishes the test keys (sel._domainkey.reporter.test and
other._domainkey.unrelated.test, key records split into 255-byte strings) and refuses every
name outside test. (nothing is forwarded off the machine). Messages are signed in the test
with python3-dkim; `stsd reports ingest` reads them with `[checks] resolver` pointing at the
unbound, and the result is checked where users see it: the ingest lines, `reports list
--json`, `reports show`, the API and the dashboard HTML.

- signed by the sender's domain: pass d=reporter.test; the body altered after signing: fail
  (body hash); unsigned: none; signed by unrelated.test: unaligned d=unrelated.test;
- [mail] require_dkim = on: only the passing message is stored, the others are rejected with
  the result and d= named, exit status 1;
- conflict: a forged unsigned copy first, the genuine signed one second: the signed one is
  the counted copy, the summary counts its sessions;
- the real samples (Google, Microsoft; keys not fetchable here): stored with temperror (the
  2024 Google one: fail, its signature expired), in well under a second each;
- a resolver that never answers: an mbox of 20 Google messages waits for one key lookup
  (5 s), not 20: failures are cached for the run.
"""
import base64
import glob
import json
import os
import socket
import subprocess
import sys
import time

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "admin"))
import stsdtest as st  # noqa: E402
import adminlib as al  # noqa: E402

KEY = open(os.path.join(st.TEST_DATA, "mail", "dkim", "key.pem"), "rb").read()
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
          b"tls-report-domain", b"tls-report-submitter"]
POLICY = "version: STSv1\nmode: testing\nmx: mx.a.test\nmax_age: 86400\n"
WINDOW = "since=2026-10-01&until=2027-01-01"
EMAILS = sorted(glob.glob(os.path.join(st.TEST_DATA, "tlsrpt", "email", "*.eml")))


def key_record():
    """The TXT record of KEY's public half, as unbound local-data strings of <= 255 bytes."""
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=KEY,
                         capture_output=True, check=True).stdout
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return " ".join('"%s"' % text[i:i + 255] for i in range(0, len(text), 255))


def report(rid, ok=10, failed=0):
    fd = []
    if failed:
        fd = [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
               "receiving-mx-hostname": "mx.a.test", "failed-session-count": failed}]
    return json.dumps({
        "organization-name": "Reporter", "contact-info": "tlsrpt@reporter.test",
        "report-id": rid,
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z",
                       "end-datetime": "2026-11-01T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "a.test",
                                 "policy-string": POLICY.strip().split("\n"),
                                 "mx-host": ["mx.a.test"]},
                      "summary": {"total-successful-session-count": ok,
                                  "total-failure-session-count": failed},
                      "failure-details": fd}]}).encode()


def message(rid, ok=10, failed=0, frm=b"noreply@reporter.test"):
    return (b"From: TLS reports <" + frm + b">\r\nTo: tlsrpt@a.test\r\n"
            b"Subject: Report Domain: a.test Submitter: reporter.test Report-ID: <" +
            rid.encode() + b">\r\nDate: Sun, 01 Nov 2026 12:00:00 +0000\r\n"
            b"Message-ID: <" + rid.encode() + b"@reporter.test>\r\n"
            b"TLS-Report-Domain: a.test\r\nTLS-Report-Submitter: reporter.test\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nA TLS report.\r\n\r\n"
            b"--b1\r\nContent-Type: application/tlsrpt+json\r\n"
            b"Content-Disposition: attachment; filename=\"r.json\"\r\n\r\n" +
            report(rid, ok, failed) + b"\r\n--b1--\r\n")


def sign(msg, sel=b"sel", domain=b"reporter.test"):
    return dkim.sign(msg, sel, domain, KEY, include_headers=SIGNED) + msg


def write(d, name, data):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def ingest(cfg, *paths):
    t0 = time.monotonic()
    r = st.run([st.STSD_BIN, "reports", "-c", cfg, "ingest"] + list(paths), timeout=180)
    r.seconds = time.monotonic() - t0
    return r


def stsd_json(cfg, *args):
    r = st.run([st.STSD_BIN, "reports", "-c", cfg] + list(args) + ["--json"], timeout=60)
    return json.loads(r.out) if r.returncode == 0 else {"error": r.err}


def listed(cfg):
    """report-id -> listing of `reports list --json` over the test's window."""
    js = stsd_json(cfg, "list", "--since", "2026-10-01", "--until", "2027-01-01")
    return {m["report_id"]: m for m in js.get("reports", [])}


def main(t):
    u = st.Unbound(["sel._domainkey.reporter.test. TXT " + key_record(),
                    "other._domainkey.unrelated.test. TXT " + key_record()],
                   zones={"test.": "static", ".": "refuse"})
    u.start(probe="sel._domainkey.reporter.test.")
    resolver = "%s@%d" % (u.addr, u.port)
    t.ok(st.dns_query(u.addr, u.port, "20210112._domainkey.google.com.", "TXT")[0] == 5,
         "the test unbound refuses google.com (nothing leaves loopback)")
    s = al.start(policies={"a.test": POLICY}, ingest=False,
                 tmp_extra="[checks]\ninterval = off\nresolver = %s\n" % resolver)
    d = st.tempdir("stsd-dkim-")

    # ---- the four results
    good = sign(message("r-pass"))
    signed = sign(message("r-altered"))
    msgs = [write(d, "pass.eml", good),
            write(d, "altered.eml", signed.replace(b'"total-successful-session-count": 10',
                                                   b'"total-successful-session-count": 11')),
            write(d, "unsigned.eml", message("r-none")),
            write(d, "unrelated.eml", sign(message("r-unrelated"), b"other", b"unrelated.test"))]
    t.ok(b"11" in open(msgs[1], "rb").read(), "the altered copy differs after signing")
    r = ingest(s.config, *msgs)
    t.ok(r.returncode == 0, "ingest of the four messages: exit 0", r)
    for name, want in (("pass.eml", "dkim=pass d=reporter.test"),
                       ("altered.eml", "dkim=fail d=reporter.test"),
                       ("unsigned.eml", "dkim=none"),
                       ("unrelated.eml", "dkim=unaligned d=unrelated.test")):
        line = [l for l in r.out.splitlines() if name in l]
        t.ok(len(line) == 1 and line[0].startswith("stored ") and line[0].endswith(want),
             "ingest line of %s ends with '%s'" % (name, want), line)
    ls = listed(s.config)
    want = {"r-pass": ("pass", "reporter.test"), "r-altered": ("fail", "reporter.test"),
            "r-none": ("none", None), "r-unrelated": ("unaligned", "unrelated.test")}
    for rid, (res, dom) in want.items():
        m = ls.get(rid, {})
        t.ok(m.get("dkim") == res and m.get("dkim_domain") == dom and m.get("source") == "email",
             "reports list --json: %s dkim=%s dkim_domain=%s" % (rid, res, dom), m)
    t.ok("body hash" in (ls.get("r-altered", {}).get("dkim_detail") or ""),
         "the altered copy's detail names the body hash", ls.get("r-altered"))
    t.ok(ls.get("r-pass", {}).get("dkim_detail") is None, "a pass has no detail")

    # reports show (text and JSON)
    pid, aid = ls["r-pass"]["id"], ls["r-altered"]["id"]
    r = st.run([st.STSD_BIN, "reports", "-c", s.config, "show", str(aid)])
    t.ok(r.returncode == 0 and "  dkim               fail d=reporter.test (body hash mismatch"
         in r.out, "reports show: the fail with d= and why", r.out)
    js = stsd_json(s.config, "show", str(pid))
    t.ok(js.get("dkim") == "pass" and js.get("dkim_domain") == "reporter.test",
         "reports show --json: pass d=reporter.test", js)

    # the API and the dashboard
    status, js = al.get_json(s, "/api/v1/reports?" + WINDOW)
    api = {m["report_id"]: m for m in js.get("reports", [])} if status == 200 else {}
    t.ok(all(api.get(rid, {}).get("dkim") == res for rid, (res, _) in want.items()),
         "/api/v1/reports: the four results", js)
    status, js = al.get_json(s, "/api/v1/reports/%d" % ls["r-unrelated"]["id"])
    t.ok(status == 200 and js.get("dkim") == "unaligned" and
         js.get("dkim_domain") == "unrelated.test", "/api/v1/reports/{id}: unaligned", js)
    status, _, page = al.get(s, "/domains/a.test?" + WINDOW, token=s.token)
    page = page.decode()
    t.ok(status == 200 and 'data-dkim="pass">pass d=reporter.test<' in page and
         'data-dkim="none">none<' in page and 'data-dkim="unaligned"' in page,
         "the domain page lists the reports with their DKIM results", page[-3000:])
    status, _, page = al.get(s, "/reports/%d" % aid, token=s.token)
    page = page.decode()
    t.ok(status == 200 and 'data-dkim="fail"' in page and "body hash mismatch" in page,
         "the report page shows the fail and why", page[-2000:])

    # ---- conflict: a forged unsigned copy first, the genuine signed one second
    forged = write(d, "forged.eml", message("r-conflict", ok=0, failed=50))
    genuine = write(d, "genuine.eml", sign(message("r-conflict", ok=42)))
    r = ingest(s.config, forged, genuine)
    t.ok(r.returncode == 0 and "conflict id=" in r.out and "dkim=pass" in r.out,
         "the genuine copy is stored as a conflict, with its pass", r.out)
    copies = [m for m in stsd_json(s.config, "list", "--since", "2026-10-01", "--until",
                                   "2027-01-01")["reports"] if m["report_id"] == "r-conflict"]
    counted = [m["dkim"] for m in copies if m["counted"]]
    t.ok(len(copies) == 2 and counted == ["pass"], "the signed copy is the counted one", copies)
    summ = stsd_json(s.config, "summary", "--since", "2026-10-01", "--until", "2027-01-01")
    tot = summ.get("totals", {})
    # counted: r-pass 10, r-altered 11, r-none 10, r-unrelated 10, r-conflict 42 (not 0/50)
    t.ok(tot.get("successful_sessions") == 83 and tot.get("failed_sessions") == 0 and
         tot.get("conflicts") == 1, "the summary counts the signed copy", tot)

    # ---- require_dkim: a fresh database, the same messages
    s2 = st.Stsd(extra_config="[checks]\nresolver = %s\n[mail]\nrequire_dkim = on\n" % resolver)
    r = ingest(s2.config, *msgs)
    t.ok(r.returncode == 1, "require_dkim: exit 1 (some rejected)", r)
    rej = [l for l in r.out.splitlines() if l.startswith("rejected ")]
    t.ok(len(rej) == 3 and any("DKIM fail d=reporter.test: body hash" in l for l in rej) and
         any("DKIM none: [mail] require_dkim = on" in l for l in rej) and
         any("DKIM unaligned d=unrelated.test" in l for l in rej),
         "require_dkim: three rejected, each naming its result and d=", rej)
    t.ok(sorted(listed(s2.config)) == ["r-pass"], "require_dkim: only the pass is stored")

    # ---- the real samples: keys not fetchable here (refused)
    s3 = st.Stsd(extra_config="[checks]\nresolver = %s\n" % resolver)
    r = ingest(s3.config, *EMAILS)
    t.diag("the %d real samples took %.2f s" % (len(EMAILS), r.seconds))
    t.ok(r.returncode == 0 and r.out.count("\nstored ") + r.out.startswith("stored ") == 3,
         "the real samples are stored", r)
    t.ok(r.seconds < 10, "... quickly (%.2f s)" % r.seconds)
    got = sorted((m["organization_name"], m["dkim"], m["dkim_domain"])
                 for m in stsd_json(s3.config, "list", "--since", "2020-01-01", "--until",
                                    "2030-01-01")["reports"])
    t.ok(got == [("Google Inc.", "fail", "google.com"), ("Google Inc.", "temperror", "google.com"),
                 ("Microsoft Corporation", "temperror", "microsoft.com")],
         "Google 2022 and Microsoft: temperror; Google 2024: fail (expired)", got)

    # ---- require_dkim and a key that cannot be fetched now: deferred, never rejected (an MTA
    # piping to `ingest -` keeps the message and tries again; nothing is stored meanwhile)
    s5 = st.Stsd(extra_config="[checks]\nresolver = %s\n[mail]\nrequire_dkim = on\n" % resolver)
    r = st.run([st.STSD_BIN, "reports", "-c", s5.config, "ingest", "-"], timeout=60,
               input=open(EMAILS[0], "rb").read())
    t.ok(r.returncode == 75 and r.out.startswith("deferred ") and "DKIM temperror d=google.com"
         in r.out and "try again later" in r.out,
         "require_dkim, key not fetchable: exit 75 (the MTA defers), a deferred line", r)
    got = stsd_json(s5.config, "list", "--since", "2000-01-01", "--until", "2030-01-01")
    t.ok(got.get("reports") == [], "require_dkim, key not fetchable: nothing stored", got)

    # ---- a resolver that never answers: one wait for the key, then the cache
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mute.bind(("127.0.0.1", 0))
    s4 = st.Stsd(extra_config="[checks]\nresolver = 127.0.0.1@%d\n" % mute.getsockname()[1])
    google = open(EMAILS[0], "rb").read()
    mbox = b"".join(b"From reports@google.com Mon Jan  1 00:00:00 2024\n" + google + b"\n"
                    for _ in range(20))
    r = ingest(s4.config, write(d, "google.mbox", mbox))
    t.diag("20 messages, no DNS answer: %.2f s" % r.seconds)
    t.ok(r.returncode == 0 and r.out.count("dkim=temperror d=google.com") == 20,
         "20 messages from Google: temperror each", r)
    t.ok(4.5 < r.seconds < 15, "one 5 s wait for the key, not twenty (%.2f s)" % r.seconds)
    listing = stsd_json(s4.config, "show", "1")
    t.ok("no DNS answer within 5000 ms" in (listing.get("dkim_detail") or ""),
         "the detail says the lookup timed out", listing)
    mute.close()


st.Tap().run(main)
