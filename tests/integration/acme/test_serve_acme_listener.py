#!/usr/bin/env python3
"""ACME inside `stsd serve`, without a CA that answers:

1. http-01: the [acme] http_listen listener answers 404 for /, for an unknown token, for a
   token of 200 characters, for paths outside /.well-known/acme-challenge/ and for a token
   that is not base64url; HEAD the same with no body; other methods on the challenge path 405;
   never a 3xx, never a Location. Its connections per address are capped (here by a
   [server] max_conn_per_address lower than its own cap of 8).
2. tls-alpn-01: a ClientHello offering ALPN acme-tls/1 for a name without a pending challenge
   is not given acme-tls/1 and gets the ordinary certificate; the policy is still served over
   h2 and http/1.1 (curl), and s_client offering h2,http/1.1 gets h2. No port-80 listener runs
   with this challenge.
3. The directory is a closed port: the hosted domain's order cannot start (the account step
   fails, status network: acme.order.fail step=account) and backs off with a growing wait (the
   test-only STSD_TEST_ACME_BACKOFF_DIV shortens the minutes of the real back-off to seconds),
   the failures count up, no order starts, serve keeps serving, and a SIGTERM stops it at once.
   With nothing due (a valid certificate), the account step at start is logged once as
   acme.backoff and not retried until a certificate is due.
4. A directory that accepts connections and never answers: SIGTERM stops serve at once.
5. A CA that offers challenges and never decides (HoldCA, below): while serve's order waits,
   http-01's token is answered 200 with exactly the key authorization (token "." the account
   key's RFC 7638 thumbprint), other tokens still 404; with tls-alpn-01 a ClientHello offering
   acme-tls/1 for the name gets acme-tls/1 and the validation certificate (SAN the name, the
   critical id-pe-acmeIdentifier holding SHA-256 of the key authorization), and the server
   closes that connection right after the handshake; SIGTERM cancels the order at once.
"""
import base64
import hashlib
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

HOST = "mta-sts.a.test"
POLICY = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 86400\n"


def acme_section(directory, challenge, http_port=None):
    lines = ["[acme]", "directory = " + directory, "challenge = " + challenge]
    if http_port:
        lines.append("http_listen = 127.0.0.1:%d" % http_port)
    return "\n".join(lines) + "\n"


def raw(port, request, timeout=5.0):
    """Send request bytes on a plain TCP connection; the whole answer (to EOF)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def status_of(answer):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(m.group(1)) if m else 0


def closed_port():
    p = st.free_port()
    return p  # nothing listens there: connect() is refused


def test_http01(t):
    http_port = st.free_port()
    directory = "https://127.0.0.1:%d/dir" % closed_port()
    srv = st.Stsd(policies={"a.test": POLICY},
                  extra_config="[server]\nmax_conn_per_address = 3\n"
                  "[reports]\nrate_exempt = 10.9.9.9/32\n" +
                  acme_section(directory, "http-01", http_port),
                  env={"STSD_TEST_ACME_BACKOFF_DIV": "30"})
    srv.start()
    t.ok(re.search(r"event=serve\.ready .*acme=127\.0\.0\.1:%d" % http_port, srv.log()),
         "serve.ready names the port-80 listener (acme=...)", srv.log()[-2000:])
    base = "http://127.0.0.1:%d" % http_port
    long_token = "A" * 200
    cases = [("/", 404), ("/.well-known/acme-challenge/unknown", 404),
             ("/.well-known/acme-challenge/" + long_token, 404),
             ("/.well-known/acme-challenge/", 404),
             ("/.well-known/acme-challenge/a%2Fb", 404),
             ("/.well-known/acme-challenge/abc=", 404),
             ("/.well-known/acme-challenge/..%2F..%2Fetc%2Fpasswd", 404),
             ("/.well-known/mta-sts.txt", 404), ("/index.html", 404)]
    for path, want in cases:
        r = st.curl(base + path)
        t.ok(r.status == want and "location" not in r.headers,
             "GET %s -> %d, no Location" % (path[:60], want), repr(r))
        r = st.curl(base + path, head=True)
        t.ok(r.status == want and "location" not in r.headers,
             "HEAD %s -> %d" % (path[:60], want), repr(r))
    for method in ("POST", "PUT", "DELETE"):
        r = st.curl(base + "/.well-known/acme-challenge/unknown", method=method)
        t.ok(r.status == 405 and r.headers.get("allow") == "GET, HEAD",
             "%s on the challenge path -> 405 with Allow: GET, HEAD" % method, repr(r))
    r = st.curl(base + "/", method="POST")
    t.is_(r.status, 404, "POST / -> 404")
    # HEAD: no body on the wire; the host header plays no part (any name, none)
    ans = raw(http_port, b"HEAD /.well-known/acme-challenge/unknown HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n")
    t.ok(status_of(ans) == 404 and ans.endswith(b"\r\n\r\n"), "HEAD over a raw socket: 404, no body",
         ans)
    ans = raw(http_port, b"GET /.well-known/acme-challenge/unknown HTTP/1.0\r\n\r\n")
    t.ok(ans.startswith(b"HTTP/1.") and b" 404 " in ans.split(b"\r\n")[0],
         "HTTP/1.0 without Host: 404", ans)
    # the same per-address cap as the HTTPS listeners: the 4th connection is refused
    socks = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", http_port), 5)
            socks.append(s)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", http_port), 5)
        extra.settimeout(5)
        try:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = extra.recv(100)
        except OSError:
            got = b""
        extra.close()
        t.is_(got, b"", "max_conn_per_address = 3: a 4th connection is closed unanswered")
    finally:
        for s in socks:
            s.close()
    t.ok(srv.wait_log("event=conn.refused", 5), "the refusal is logged (conn.refused)")
    time.sleep(0.3)
    t.is_(st.curl(base + "/x").status, 404, "after they close, connections are accepted again")

    # 3. the directory is down: a.test's orders cannot start, each failure backs off longer
    t.ok(srv.wait_log("event=acme.order.fail domain=a.test", 30, count=3),
         "three acme.order.fail lines for a.test within 30 s (back-off divided by 30)",
         srv.log()[-3000:])
    lines = [l for l in srv.log().splitlines() if "event=acme.order.fail domain=a.test" in l]
    waits = [int(re.search(r"\bwait=(\d+)", l).group(1)) for l in lines]
    fails = [int(re.search(r"\bfailures=(\d+)", l).group(1)) for l in lines]
    t.ok(all("status=network" in l for l in lines), "each says status=network", "\n".join(lines))
    t.ok(len(waits) >= 3 and waits[0] < waits[1] < waits[2], "the wait grows: %r" % waits[:4])
    t.is_(fails[:3], [1, 2, 3], "failures count 1, 2, 3")
    t.ok(all(re.search(r"next_attempt=\d{4}-\d\d-\d\dT", l) for l in lines),
         "next_attempt is logged")
    t.ok(all("step=account" in l for l in lines),
         "each says the account step could not be done (step=account)")
    t.ok("event=acme.order.start" not in srv.log(), "no order starts without an account")
    t.is_(st.curl(base + "/.well-known/acme-challenge/x").status, 404, "port 80 still answers")
    t0 = time.monotonic()
    rc = srv.stop()
    took = time.monotonic() - t0
    t.ok(rc == 0 and took < 5, "SIGTERM stops serve in %.1f s (status %r)" % (took, rc))


def s_client(port, alpn, servername):
    r = st.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
                servername, "-alpn", alpn], timeout=20, input=b"")
    return r.out + r.err


def test_tlsalpn(t):
    d = st.tempdir()
    ca = st.TestCA(d)
    leaf = ca.issue(HOST)
    http_port = st.free_port()
    directory = "https://127.0.0.1:%d/dir" % closed_port()
    srv = st.Stsd(policies={"a.test": POLICY}, certs={HOST: leaf},
                  extra_config=acme_section(directory, "tls-alpn-01", http_port))
    srv.start()
    t.ok("acme=" not in re.search(r"event=serve\.ready.*", srv.log()).group(0),
         "tls-alpn-01: no port-80 listener")
    try:
        socket.create_connection(("127.0.0.1", http_port), 2).close()
        t.ok(False, "nothing listens on http_listen with tls-alpn-01")
    except OSError:
        t.ok(True, "nothing listens on http_listen with tls-alpn-01")
    # nothing is due (a.test's certificate is valid): the account step at start is logged
    t.ok(srv.wait_log("event=acme.backoff step=account status=network", 10),
         "nothing due: the account step's failure is logged once (acme.backoff)",
         srv.log()[-2000:])
    time.sleep(2.5)
    t.is_(srv.log().count("event=acme.backoff"), 1, "... and not retried while nothing is due")
    t.ok("event=acme.order" not in srv.log(), "no order for a valid certificate")
    out = s_client(srv.port, "acme-tls/1", HOST)
    t.ok("No ALPN negotiated" in out and "ALPN protocol" not in out,
         "acme-tls/1 without a pending challenge: no ALPN selected", out)
    t.ok(re.search(r"subject=.*CN ?= ?%s" % re.escape(HOST), out),
         "... and the ordinary certificate is served", out)
    out = s_client(srv.port, "acme-tls/1,http/1.1", HOST)
    t.ok("ALPN protocol: http/1.1" in out, "acme-tls/1,http/1.1 without a challenge: http/1.1",
         out)
    out = s_client(srv.port, "h2,http/1.1", HOST)
    t.ok("ALPN protocol: h2" in out, "h2,http/1.1: h2 (the server's preference)", out)
    out = s_client(srv.port, "http/1.1,h2", HOST)
    t.ok("ALPN protocol: h2" in out, "http/1.1,h2: still h2", out)
    for h2 in (True, False):
        r = st.curl(srv.url("a.test"), resolve="%s:%d:127.0.0.1" % (HOST, srv.port),
                    cacert=ca.cert, http2=h2)
        t.ok(r.status == 200 and r.body.startswith(b"version: STSv1\r\n") and
             r.http_version == ("2" if h2 else "1.1"),
             "the policy over HTTP/%s" % ("2" if h2 else "1.1"), repr(r))
    t.is_(srv.stop(), 0, "serve stops cleanly")


def test_hanging_directory(t):
    """A directory that accepts the connection and never answers: SIGTERM still stops serve at
    once (the exchange under way is cancelled) and no failure is recorded for it."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)  # connections complete in the backlog; nothing is ever read or sent
    try:
        srv = st.Stsd(policies={"a.test": POLICY}, extra_config=acme_section(
            "https://127.0.0.1:%d/dir" % ls.getsockname()[1], "http-01", st.free_port()))
        srv.start()
        time.sleep(2)
        t0 = time.monotonic()
        rc = srv.stop()
        took = time.monotonic() - t0
        t.ok(rc == 0 and took < 3,
             "a directory that never answers: SIGTERM stops serve in %.1f s (status %r)" %
             (took, rc))
        t.ok("event=acme.order.fail" not in srv.log() and "event=acme.backoff" not in srv.log(),
             "the cancelled exchange is not recorded as a failure", srv.log()[-2000:])
    finally:
        ls.close()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class HoldCA:
    """A tiny ACME server (HTTPS with the test CA's certificate for localhost) that registers
    the account, opens an order for one name with an http-01 and a tls-alpn-01 challenge, takes
    the client's "ready" and then keeps the authorization pending for good. Signatures are not
    checked: what is tested is serve's side of the challenge."""

    TOKENS = {"http-01": "httpTokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
              "tls-alpn-01": "alpnTokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}

    def __init__(self, ca):
        leaf = ca.issue("localhost", sans=["localhost", "IP:127.0.0.1"], name="holdca")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(leaf["chain"], leaf["key"])
        self.ready = threading.Event()  # the client said a challenge is ready
        self.host = None
        self.nonce = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body=None, headers=()):
                outer.nonce += 1
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Replay-Nonce", "holdNonce%06d" % outer.nonce)
                self.send_header("Content-Type", "application/json")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self):
                self.answer(200)

            def do_GET(self):
                base = outer.base
                self.answer(200, {"newNonce": base + "/nonce", "newAccount": base + "/acct",
                                  "newOrder": base + "/order"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                jws = json.loads(self.rfile.read(n) or b"{}")
                payload = jws.get("payload", "")
                body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
                                  or b"null") if payload else None
                base = outer.base
                if self.path == "/acct":
                    self.answer(201, {"status": "valid"}, [("Location", base + "/acct/1")])
                elif self.path == "/order":
                    outer.host = body["identifiers"][0]["value"]
                    self.answer(201, {"status": "pending", "authorizations": [base + "/authz"],
                                      "finalize": base + "/finalize",
                                      "identifiers": body["identifiers"]},
                                [("Location", base + "/order/1")])
                elif self.path == "/authz":
                    self.answer(200, {"status": "pending",
                                      "identifier": {"type": "dns", "value": outer.host},
                                      "challenges": [{"type": ty, "url": base + "/chall/" + ty,
                                                      "token": tok, "status": "pending"}
                                                     for ty, tok in HoldCA.TOKENS.items()]},
                                [("Retry-After", "1")])
                elif self.path.startswith("/chall/"):
                    outer.ready.set()
                    self.answer(200, {"type": self.path[7:], "status": "processing",
                                      "url": base + self.path,
                                      "token": HoldCA.TOKENS[self.path[7:]]})
                else:
                    self.answer(404, {"type": "urn:ietf:params:acme:error:malformed"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.base = "https://localhost:%d" % self.server.server_address[1]
        self.directory = self.base + "/dir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        st.Cleanup.add(self.server.shutdown)


def thumbprint(key_file):
    """RFC 7638 thumbprint of the P-256 account key in key_file."""
    der = st.run(["openssl", "ec", "-in", key_file, "-pubout", "-outform", "DER"]).stdout
    point = der[-65:]  # the uncompressed point 04 || x || y ends the SubjectPublicKeyInfo
    jwk = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64url(point[1:33]),
                                                           b64url(point[33:]))
    return b64url(hashlib.sha256(jwk.encode()).digest())


def test_held_challenge(t):
    ca = st.TestCA(st.tempdir())
    for chal in ("http-01", "tls-alpn-01"):
        hold = HoldCA(ca)
        http_port = st.free_port()
        srv = st.Stsd(policies={"hold.test": POLICY}, extra_config=acme_section(
            hold.directory, chal, http_port) + "ca_file = %s\n" % ca.cert)
        srv.start()
        t.ok(hold.ready.wait(30), "%s: the order reached its challenge" % chal, srv.log()[-2000:])
        time.sleep(0.3)
        token = HoldCA.TOKENS[chal]
        key_auth = token + "." + thumbprint(os.path.join(srv.state_dir, "acme", "account.key"))
        if chal == "http-01":
            r = st.curl("http://127.0.0.1:%d/.well-known/acme-challenge/%s" % (http_port, token))
            t.ok(r.status == 200 and r.body == key_auth.encode() and
                 r.headers.get("content-type", "").startswith("text/plain"),
                 "http-01: the pending token is answered with its key authorization", repr(r))
            other = HoldCA.TOKENS["tls-alpn-01"]
            r = st.curl("http://127.0.0.1:%d/.well-known/acme-challenge/%s" % (http_port, other))
            t.is_(r.status, 404, "http-01: a token that is not pending still 404")
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["acme-tls/1"])
            with socket.create_connection(("127.0.0.1", srv.port), 5) as raw:
                with ctx.wrap_socket(raw, server_hostname="mta-sts.hold.test") as s:
                    alpn = s.selected_alpn_protocol()
                    der = s.getpeercert(binary_form=True)
                    t0 = time.monotonic()
                    try:
                        eof = s.recv(100) == b""
                    except (ssl.SSLError, OSError):
                        eof = True
                    took = time.monotonic() - t0
            t.is_(alpn, "acme-tls/1", "tls-alpn-01: acme-tls/1 is selected for the pending name")
            oid = bytes.fromhex("06082b0601050507011f")  # 1.3.6.1.5.5.7.1.31
            digest = hashlib.sha256(key_auth.encode()).digest()
            t.ok(oid in der and digest in der and b"mta-sts.hold.test" in der,
                 "tls-alpn-01: the validation certificate (acmeIdentifier = SHA-256 of the key "
                 "authorization, SAN the name)")
            t.ok(eof and took < 2, "tls-alpn-01: the server closes the connection after the "
                 "handshake (%.2f s)" % took)
            out = s_client(srv.port, "h2,http/1.1", "mta-sts.hold.test")
            t.ok("acme-tls/1" not in out.replace("-alpn", ""),
                 "tls-alpn-01: h2/http1.1 for the same name never get acme-tls/1", out)
        t0 = time.monotonic()
        rc = srv.stop()
        took = time.monotonic() - t0
        t.ok(rc == 0 and took < 3 and "event=acme.order.cancelled domain=hold.test" in srv.log(),
             "%s: SIGTERM cancels the waiting order (%.1f s)" % (chal, took), srv.log()[-1500:])
        hold.server.shutdown()


def main(t):
    for part in (test_http01, test_tlsalpn, test_hanging_directory, test_held_challenge):
        t.diag(part.__name__)
        part(t)


if __name__ == "__main__":
    st.Tap().run(main)
