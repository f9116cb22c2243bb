#!/usr/bin/env python3
"""Session-ticket keys rotate: a ticket issued under the current key resumes; after
one rotation it still resumes (the previous key decrypts) and is replaced by a new one; after two
rotations it does not resume (a full handshake). TLS 1.3 and TLS 1.2. Only TLS 1.2 suites with
ECDHE and AES-GCM or ChaCha20-Poly1305 are offered.

The lifetime is shortened with the test-only variable STSD_TEST_TICKET_LIFETIME_MS (the
configuration's minimum is 60 s); the rotation rule is the same."""
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

LIFETIME = 4.0  # seconds
HOST = "mta-sts.a.test"
POLICY = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 86400\n"


def fetch(port, ctx, session=None):
    """GET the policy on a new connection; returns (status, session, reused)."""
    return st.policy_fetch(port, HOST, ctx, session=session, timeout=10)


def contexts(cafile):
    out = {}
    for name, ver in (("TLSv1.3", ssl.TLSVersion.TLSv1_3), ("TLSv1.2", ssl.TLSVersion.TLSv1_2)):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ctx.maximum_version = ver
        out[name] = ctx
    return out


def main(t):
    d = st.tempdir()
    ca = st.TestCA(d)
    leaf = ca.issue(HOST)
    srv = st.Stsd(policies={"a.test": POLICY}, certs={HOST: leaf},
                  env={"STSD_TEST_TICKET_LIFETIME_MS": str(int(LIFETIME * 1000))})
    srv.start()
    port = srv.port
    ctxs = contexts(ca.cert)

    t0 = time.monotonic()
    first = {}
    for v, ctx in ctxs.items():
        status, sess, reused = fetch(port, ctx)
        t.is_(status, 200, "%s: full handshake answers" % v)
        t.ok(not reused and sess is not None and sess.has_ticket, "%s: a ticket is issued" % v)
        status, _, reused = fetch(port, ctx, sess)
        t.ok(status == 200 and reused, "%s: the ticket resumes under the current key" % v)
        first[v] = sess

    # one rotation: the key that made `first` is the previous key now
    time.sleep(max(0.0, t0 + LIFETIME + 0.5 - time.monotonic()))
    second = {}
    for v, ctx in ctxs.items():
        status, sess, reused = fetch(port, ctx, first[v])
        t.ok(status == 200 and reused, "%s: a ticket from before one rotation still resumes" % v)
        second[v] = sess
    t.diag("first rotation checked %.1f s after the tickets were issued" % (time.monotonic() - t0))

    # two rotations: the first key is gone
    time.sleep(max(0.0, t0 + 2 * LIFETIME + 1.5 - time.monotonic()))
    for v, ctx in ctxs.items():
        status, _, reused = fetch(port, ctx, first[v])
        t.ok(status == 200 and not reused,
             "%s: a ticket from two rotations ago does not resume (full handshake)" % v)
        status, _, reused = fetch(port, ctx, second[v])
        t.ok(status == 200 and reused, "%s: the ticket renewed one rotation ago resumes" % v)
    t.diag("second rotation checked %.1f s after the first tickets" % (time.monotonic() - t0))

    # TLS 1.2 suites: ECDHE + AEAD only (the test CA issues P-256 keys: ECDSA suites)
    for suite, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", True),
                        ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
                        ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
                        ("ECDHE-ECDSA-AES128-SHA256", False), ("ECDHE-ECDSA-AES256-SHA", False),
                        ("ECDHE-ECDSA-AES128-SHA", False), ("ECDHE-ECDSA-AES256-SHA384", False)):
        r = st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", HOST,
                    "-tls1_2", "-cipher", suite], input=b"", timeout=20)
        agreed = ("Cipher is " + suite) in r.out
        t.ok(agreed == want, "TLS 1.2 %s is %s" % (suite, "agreed" if want else "refused"))
    r = st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", HOST,
                "-tls1_2"], input=b"", timeout=20)
    t.ok("Cipher is ECDHE-" in r.out and "GCM" in r.out or "CHACHA20" in r.out,
         "TLS 1.2 with the client's defaults agrees on an ECDHE AEAD suite")
    t.is_(srv.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
