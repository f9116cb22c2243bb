#!/usr/bin/python3
"""Make the DKIM fixture messages of the mail unit tests (tests/unit/mail/test_dkim.c) with
Debian's python3-dkim (dkimpy), signed by key.pem (a throw-away 2048-bit RSA test key made
with `openssl genrsa -out key.pem 2048`). Run it from anywhere: it writes next to itself.

The messages come from noreply@reporter.test and carry a small TLS-RPT report (JSON). The
keys the test's lookup publishes: sel._domainkey.reporter.test and
other._domainkey.unrelated.test hold key.pem's public key, revoked._domainkey.reporter.test
an empty p=, slow._domainkey.reporter.test fails temporarily, any other name has no key.
"""
import base64
import os
import subprocess

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = open(os.path.join(HERE, "key.pem"), "rb").read()
HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
           b"content-type", b"tls-report-domain", b"tls-report-submitter"]

REPORT = (b'{"organization-name":"Reporter","date-range":{"start-datetime":'
          b'"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},'
          b'"contact-info":"tlsrpt@reporter.test","report-id":"dkim-fixture",'
          b'"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1",'
          b'"mode: testing","mx: mx.a.test","max_age: 86400"],"policy-domain":"a.test"},'
          b'"summary":{"total-successful-session-count":10,"total-failure-session-count":0}}]}')


def message(frm=b"noreply@reporter.test"):
    return (b"From: TLS reports <" + frm + b">\r\n"
            b"To: tlsrpt@a.test\r\n"
            b"Subject: Report Domain: a.test Submitter: reporter.test Report-ID: <dkim-fixture>\r\n"
            b"Date: Sun, 01 Nov 2026 12:00:00 +0000\r\n"
            b"Message-ID: <dkim-fixture@reporter.test>\r\n"
            b"TLS-Report-Domain: a.test\r\n"
            b"TLS-Report-Submitter: reporter.test\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b1\"\r\n"
            b"\r\n"
            b"--b1\r\n"
            b"Content-Type: text/plain\r\n"
            b"\r\n"
            b"This is an aggregate TLS report from reporter.test.\r\n"
            b"\r\n"
            b"--b1\r\n"
            b"Content-Type: application/tlsrpt+json\r\n"
            b"Content-Disposition: attachment; filename=\"reporter.test!a.test!1!2!1.json\"\r\n"
            b"\r\n" + REPORT + b"\r\n"
            b"--b1--\r\n")


def sign(msg, sel, domain):
    return dkim.sign(msg, sel, domain, KEY, include_headers=HEADERS) + msg


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    good = sign(message(), b"sel", b"reporter.test")
    write("pass.eml", good)
    write("pass-lf.eml", good.replace(b"\r\n", b"\n"))  # as an mbox or Maildir keeps it
    write("altered.eml", good.replace(b"\"total-successful-session-count\":10",
                                      b"\"total-successful-session-count\":99"))
    write("unsigned.eml", message())
    write("unrelated.eml", sign(message(), b"other", b"unrelated.test"))
    write("subdomain.eml", sign(message(b"noreply@mail.reporter.test"), b"sel",
                                b"reporter.test"))
    write("nokey.eml", sign(message(), b"gone", b"reporter.test"))
    write("revoked.eml", sign(message(), b"revoked", b"reporter.test"))
    write("tempfail.eml", sign(message(), b"slow", b"reporter.test"))
    # A failing signature on top of a good one: the good one decides.
    write("two.eml", sign(good, b"gone", b"reporter.test"))
    # Seven signatures: six without keys (x1..x6) on top of the good one; only the first five
    # from the top are evaluated, so the good one is never looked at.
    many = good
    for i in range(1, 7):
        many = sign(many, b"x%d" % i, b"reporter.test")
    write("many.eml", many)
    pub = subprocess.run(["openssl", "rsa", "-in", os.path.join(HERE, "key.pem"), "-pubout",
                          "-outform", "DER"], capture_output=True, check=True).stdout
    write("key.txt", b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub) + b"\n")


if __name__ == "__main__":
    main()
