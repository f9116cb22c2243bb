#!/usr/bin/env python3
"""stsd serve hosts MTA-STS policies (RFC 8461 §3.3): three domains, each with its
own certificate chosen by SNI; exact bodies (CRLF), Content-Type, HEAD, 404/405, never a
redirect, HTTP/2 via ALPN, TLS 1.1 refused, unknown SNI names, default.pem."""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

POLICIES = {
    # LF endings: served with CRLF
    "a.test": b"version: STSv1\nmode: enforce\nmx: mail.a.test\nmx: *.backup.a.test\nmax_age: 604800\n",
    # CRLF already
    "b.test": b"version: STSv1\r\nmode: testing\r\nmx: mx.b.test\r\nmax_age: 86400\r\n",
    # mode none, no mx
    "c.test": b"version: STSv1\nmode: none\nmax_age: 86400\n",
}


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def raw_request(port, sni, cafile, request):
    """Send raw bytes over TLS and read until the server closes; returns the bytes."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as tls:
            tls.sendall(request)
            out = b""
            while True:
                try:
                    chunk = tls.recv(65536)
                except (ssl.SSLError, socket.timeout):
                    break
                if not chunk:
                    break
                out += chunk
            return out


def s_client(port, sni, extra=()):
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if sni:
        args += ["-servername", sni]
    return st.run(args + list(extra), input=b"", timeout=20)


def subject_of(port, sni):
    r = s_client(port, sni)
    x = st.run(["openssl", "x509", "-noout", "-subject"], input=r.stdout, timeout=10)
    return x.out.strip()


def main(t):
    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    leaf_a = ca.issue("mta-sts.a.test")
    leaf_b = ca.issue("mta-sts.b.test", intermediate=True)
    leaf_c = ca.issue("mta-sts.c.test")
    s = st.Stsd(policies=POLICIES, certs={"mta-sts.a.test": leaf_a, "mta-sts.b.test": leaf_b})
    # c.test as .crt + .key
    st.TestCA.install(leaf_c, s.cert_dir, "mta-sts.c.test", split=True)
    s.start()
    port = s.port

    def get(domain, **kw):
        host = kw.pop("host", "mta-sts.%s" % domain)
        return st.curl(kw.pop("url", s.url(domain)), resolve="%s:%d:127.0.0.1" % (host, port),
                       cacert=ca.cert, **kw)

    # 1. each domain: exact body, status, content type, over HTTP/1.1 and HTTP/2
    for dom, body in POLICIES.items():
        r = get(dom)
        t.is_((r.status, r.http_version), (200, "1.1"), "%s: GET over HTTP/1.1 is 200" % dom)
        t.is_(r.body, crlf(body), "%s: body is the file with CRLF line endings" % dom)
        t.is_(r.headers.get("content-type"), "text/plain; charset=utf-8",
              "%s: Content-Type text/plain; charset=utf-8" % dom)
        t.is_(r.headers.get("content-length"), str(len(crlf(body))),
              "%s: Content-Length" % dom)
        r2 = get(dom, http2=True)
        t.is_((r2.status, r2.http_version, r2.body), (200, "2", crlf(body)),
              "%s: HTTP/2 (ALPN h2) gives the same body" % dom)

    # 2. the certificate is chosen by SNI (its subject names the host)
    for dom in POLICIES:
        t.is_(subject_of(port, "mta-sts." + dom), "subject=CN = mta-sts." + dom,
              "SNI mta-sts.%s gets its own certificate" % dom)
    r = s_client(port, "mta-sts.b.test", ["-CAfile", ca.cert, "-verify_return_error"])
    t.ok(r.returncode == 0 and "Verify return code: 0 (ok)" in r.out,
         "the intermediate is sent with the leaf (chain verifies)", r)

    # 3. HEAD: headers only
    req = (b"HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.a.test\r\n"
           b"Connection: close\r\n\r\n")
    raw = raw_request(port, "mta-sts.a.test", ca.cert, req)
    head, _, rest = raw.partition(b"\r\n\r\n")
    t.ok(head.startswith(b"HTTP/1.1 200 "), "HEAD is 200", raw)
    t.ok(b"\r\ncontent-length: %d" % len(crlf(POLICIES["a.test"])) in head.lower(),
         "HEAD has the GET's Content-Length", raw)
    t.is_(rest, b"", "HEAD has no body")

    # 4. Host matching: case-insensitive, port and trailing dot ignored
    for h in ("MTA-STS.A.TEST", "mta-sts.a.test.", "Mta-Sts.A.Test.:%d" % port,
              "mta-sts.a.test:443"):
        r = get("a.test", headers=["Host: " + h])
        t.is_((r.status, r.body), (200, crlf(POLICIES["a.test"])), "Host %r is served" % h)

    # 5. 404s: unknown host, hosts without the mta-sts. label, other paths
    for h in ("mta-sts.unknown.test", "a.test", "www.a.test", "mta-sts.", "[::1]", "127.0.0.1"):
        r = get("a.test", headers=["Host: " + h])
        t.is_(r.status, 404, "Host %r is 404" % h)
    for path in ("/", "/.well-known/", "/.well-known/mta-sts.txt/x", "/mta-sts.txt",
                 "/.well-known/mta-sts.txt.bak", "/index.html"):
        r = get("a.test", url=s.url("a.test", path))
        t.is_(r.status, 404, "GET %s is 404" % path)
    r = get("a.test", url=s.url("a.test", "/.well-known/mta-sts.txt?x=1"))
    t.is_(r.status, 200, "a query string does not change the resource")

    # 6. other methods: 405 with Allow
    for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        r = get("a.test", method=m, data=b"x" if m in ("POST", "PUT", "PATCH") else None)
        t.is_((r.status, r.headers.get("allow")), (405, "GET, HEAD"),
              "%s on the policy path is 405 with Allow: GET, HEAD" % m)
    r = get("a.test", method="POST", http2=True, data=b"x")
    t.is_(r.status, 405, "POST over HTTP/2 is 405 too")

    # 6b. ALPN: h2 and http/1.1 are both negotiated explicitly
    for proto in ("h2", "http/1.1"):
        r = s_client(port, "mta-sts.a.test", ["-alpn", proto])
        t.ok("ALPN protocol: " + proto in r.out, "ALPN selects %s when offered" % proto, r)

    # 7. TLS versions: 1.1 refused by the server, 1.2 and 1.3 accepted
    r = s_client(port, "mta-sts.a.test", ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
    # h2o 2.2.5 closes a failed handshake without flushing the alert: the client sees the
    # connection end before any certificate.
    t.ok(r.returncode != 0 and "no peer certificate available" in r.out,
         "TLS 1.1 is refused (handshake ends, no certificate sent)", r)
    for v in ("-tls1_2", "-tls1_3"):
        r = s_client(port, "mta-sts.a.test", [v, "-CAfile", ca.cert])
        t.ok(r.returncode == 0 and "Verify return code: 0 (ok)" in r.out,
             "TLS %s is accepted" % v[4:].replace("_", "."), r)

    # 7b. session resumption by tickets (the default, as nginx's): a saved session is reused,
    # with TLS 1.2 and 1.3; with [tls] session_tickets = off every connection is a full
    # handshake. s_client -sess_out/-sess_in carry the session from one run to the next.
    # A request with -ign_eof keeps s_client until the server closes, so a TLS 1.3 ticket
    # (sent after the handshake) is received and saved.
    req = b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.a.test\r\nConnection: close\r\n\r\n"

    def sclient_req(port, extra):
        return st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
                       "mta-sts.a.test", "-ign_eof"] + extra, input=req, timeout=20)

    def resumption(port, v, tag):
        sess = os.path.join(d, "sess%s%s" % (tag, v))
        r1 = sclient_req(port, [v, "-sess_out", sess])
        if r1.returncode != 0 or not os.path.exists(sess):
            return None, r1
        return sclient_req(port, [v, "-sess_in", sess]), r1

    for v in ("-tls1_2", "-tls1_3"):
        r2, r1 = resumption(port, v, "on")
        t.ok(r2 is not None and r2.returncode == 0 and "\nReused, TLSv1." in r2.out,
             "TLS %s: a second connection resumes the session (ticket)"
             % v[4:].replace("_", "."), r2 or r1)
    s_off = st.Stsd(policies=POLICIES, certs={"mta-sts.a.test": leaf_a},
                    extra_config="[tls]\nsession_tickets = off\n").start()
    for v in ("-tls1_2", "-tls1_3"):
        r2, r1 = resumption(s_off.port, v, "off")
        t.ok(r1.returncode == 0 and
             (r2 is None or (r2.returncode == 0 and "\nNew, TLSv1." in r2.out and
                             "Reused" not in r2.out)),
             "session_tickets = off, TLS %s: a second connection is a full handshake"
             % v[4:].replace("_", "."), r2 or r1)
    t.is_(s_off.stop(), 0, "the session_tickets = off server stops cleanly")

    # 8. unknown SNI / no SNI without default.pem: the handshake is aborted (the servername
    # callback answers unrecognized_name; h2o closes without flushing the alert)
    r = s_client(port, "mta-sts.unknown.test")
    t.ok(r.returncode != 0 and "no peer certificate available" in r.out,
         "unknown SNI name: handshake aborted, no certificate sent", r)
    r = s_client(port, None, ["-noservername"])
    t.ok(r.returncode != 0 and "no peer certificate available" in r.out,
         "no SNI: handshake aborted, no certificate sent", r)

    # 9. default.pem (added while running: picked up by inotify) serves unknown names
    reloads = s.log().count("event=policy.reload")
    dflt = ca.issue("default.test", name="default")
    st.TestCA.install(dflt, s.cert_dir, "default")
    t.ok(s.wait_log("event=policy.reload", count=reloads + 1),
         "adding default.pem triggers a reload", s.log())
    t.is_(subject_of(port, "mta-sts.unknown.test"), "subject=CN = default.test",
          "unknown SNI name gets default.pem")
    t.is_(subject_of(port, "mta-sts.a.test"), "subject=CN = mta-sts.a.test",
          "known names keep their own certificate")

    # 9b. a certificate file named after none of its names serves its DNS SANs (indexed once
    # the background warm-up has decoded it: "why=sans" reload)
    multi = ca.issue("mta-sts.m1.test", sans=["mta-sts.m1.test", "mta-sts.m2.test"])
    n = s.log().count("why=sans")
    st.TestCA.install(multi, s.cert_dir, "shared.test")
    t.ok(s.wait_log("why=sans", count=n + 1), "the SANs of a new certificate get indexed",
         s.log())
    t.is_(subject_of(port, "mta-sts.m2.test"), "subject=CN = mta-sts.m1.test",
          "SNI mta-sts.m2.test gets the certificate listing it as a SAN")

    # 10. no redirect anywhere: every answer above was 200/404/405; a few odd requests too
    for path in ("/.well-known", "//.well-known/mta-sts.txt", "/.well-known//mta-sts.txt"):
        r = get("a.test", url=s.url("a.test", path), extra=["--path-as-is"])
        t.ok(not (300 <= r.status < 400) and r.status in (200, 404),
             "%s answers %d, not a redirect" % (path, r.status))

    t0 = time.monotonic()
    rc = s.stop()
    t.is_(rc, 0, "SIGTERM: exit status 0")
    t.ok(time.monotonic() - t0 < 3, "SIGTERM: stops within 3 s")
    t.ok("level=error" not in s.log(), "no errors logged", s.log())


if __name__ == "__main__":
    st.Tap().run(main)
