#!/usr/bin/python3
"""testssl.sh (Debian package testssl.sh, command `testssl`) against stsd serve on loopback
(its TLS): protocols (-p), cipher categories (-s), forward secrecy (-f), ciphers per
protocol (-E) and every vulnerability check (-U). No output line may say VULNERABLE (which
also catches "potentially VULNERABLE").

Nothing leaves loopback: --ip 127.0.0.1 (the host name in the URI is only the SNI name),
--nodns none (no DNS lookups at all), and no --phone-out (so no CRL or OCSP fetches; that is
testssl's default). The test CA is given with --add-ca so that the chain checks pass."""
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh") or "/usr/bin/testssl"


def main(t):
    s = il.server(reports=hl.OPEN_INTAKE)
    d = st.tempdir("stsd-testssl-")
    out = os.path.join(d, "testssl.txt")
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--ip", "127.0.0.1",
           "--nodns", "none", "--add-ca", il.ca().cert, "--connect-timeout", "10",
           "--openssl-timeout", "10", "--logfile", out,
           "-p", "-s", "-f", "-E", "-U", "https://%s:%d/" % (il.HOST, s.port)]
    t0 = time.monotonic()
    r = st.run(cmd, timeout=420)
    took = time.monotonic() - t0
    text = r.out
    t.diag("testssl ran %.0f s, exit %s, %d lines" % (took, r.returncode, len(text.splitlines())))
    t.ok(not r.timed_out, "testssl finished within 7 minutes")
    t.ok("Testing vulnerabilities" in text and "Done " in text,
         "testssl ran the vulnerability checks to the end")
    t.ok(re.search(r"Heartbleed.*not vulnerable", text) is not None,
         "a vulnerability verdict is in the output (Heartbleed)")
    bad = [line.strip() for line in text.splitlines() if "VULNERABLE" in line]
    for line in bad:
        t.diag("testssl: " + line)
    t.is_(len(bad), 0, "no line says VULNERABLE or potentially VULNERABLE")
    for key in ("SSLv2 ", "SSLv3 ", "TLS 1 ", "TLS 1.1 ", "TLS 1.2 ", "TLS 1.3 "):
        for line in text.splitlines():
            if line.strip().startswith(key):
                t.diag("testssl: " + line.strip())
                break
    weak_categories = ("NULL ciphers", "Anonymous NULL", "Export ciphers", "LOW:", "Triple DES",
                       "Obsolete CBC", "Obsoleted CBC")
    seen = [line.strip() for line in text.splitlines() if line.strip().startswith(weak_categories)]
    t.is_(len(seen), 6, "testssl rated the six weak cipher categories")
    weak = [line for line in seen if "offered" in line and "not offered" not in line]
    t.is_(weak, [], "none of them offered (CBC, 3DES, RC4, DES, NULL, export, anonymous)")
    t.ok(any(line.strip().startswith("Strong encryption (AEAD ciphers)") and "offered (OK)" in line
             for line in text.splitlines()), "AEAD ciphers offered")
    t.ok(s.proc.poll() is None, "the server is still running")
    t.is_(s.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
