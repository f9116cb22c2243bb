"""fakeacme - a tiny ACME CA (python3 stdlib + the openssl CLI, HTTPS with a test CA) for the
answers pebble does not give: an authorization that is already valid (no challenge to answer),
an order that stays `processing` with a Retry-After after finalize, and a certificate sent as
the leaf alone with its issuer behind a Link rel="up" header (RFC 8555 section 7.4.2).

    fa = FakeAcme(ca, processing_retry_after=2).start()
    fa.directory, fa.ca_file           # for the client
    fa.times("order")                  # monotonic times of the POSTs to the order URL
    fa.stop()

Signatures are not checked (the client under test is not what this server judges); the CSR in
the finalize payload is signed by `ca` with the openssl CLI, its extensions copied.
"""

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stsdtest as st  # noqa: E402


def _b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeAcme:
    def __init__(self, ca, processing_retry_after=2):
        self.ca = ca
        self.dir = st.tempdir("stsd-fakeacme-")
        leaf = ca.issue("localhost", sans=["localhost", "IP:127.0.0.1"], name="fakeacme")
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(leaf["chain"], leaf["key"])
        self.ca_file = ca.cert
        self.retry_after = processing_retry_after
        self._lock = threading.Lock()
        self._log = []  # (name, monotonic time)
        self._nonce = 0
        self.state = "pending"  # of the order: pending -> ready -> processing -> valid
        self.issued = None      # the leaf PEM once finalized
        self.server = None

    def times(self, name):
        with self._lock:
            return [t for n, t in self._log if n == name]

    def names(self):
        with self._lock:
            return [n for n, _ in self._log]

    def _next_nonce(self):
        with self._lock:
            self._nonce += 1
            return "fakenonce%06d" % self._nonce

    def _finalize(self, payload):
        der = _b64url_decode(json.loads(payload)["csr"])
        csr = os.path.join(self.dir, "csr.der")
        out = os.path.join(self.dir, "leaf.pem")
        with open(csr, "wb") as f:
            f.write(der)
        r = subprocess.run(["openssl", "x509", "-req", "-inform", "DER", "-in", csr, "-CA",
                            self.ca.cert, "-CAkey", self.ca.key, "-days", "2", "-sha256",
                            "-copy_extensions", "copy", "-set_serial", "4242", "-out", out],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode())
        with open(out, "rb") as f:
            self.issued = f.read()

    def _order(self):
        o = {"status": self.state, "identifiers": [{"type": "dns", "value": "x"}],
             "authorizations": [self.base + "/authz/1"], "finalize": self.base + "/order/1/fin"}
        if self.state == "valid":
            o["certificate"] = self.base + "/cert/1"
        return o

    def _answer(self, h, name, payload):
        """(status, headers, body) for a POST to `name`."""
        if name == "newAccount":
            return 201, {"Location": self.base + "/acct/1"}, {"status": "valid"}
        if name == "newOrder":
            self.state = "pending"
            return 201, {"Location": self.base + "/order/1"}, self._order()
        if name == "authz":
            # already valid: nothing for the client to present
            return 200, {}, {"status": "valid", "identifier": {"type": "dns", "value":
                             "mta-sts.fake.test"}, "challenges": []}
        if name == "order":
            hdrs = {}
            if self.state == "pending":
                self.state = "ready"
            elif self.state == "processing":
                if len(self.times("order")) >= 3:  # the second poll after finalize
                    self.state = "valid"
                else:
                    hdrs["Retry-After"] = str(self.retry_after)
            return 200, hdrs, self._order()
        if name == "finalize":
            self._finalize(payload)
            self.state = "processing"
            return 200, {"Retry-After": str(self.retry_after)}, self._order()
        if name == "cert":
            return 200, {"Content-Type": "application/pem-certificate-chain",
                         "Link": '<%s/dir>;rel="index", <%s/issuer>;rel="up"' % (
                             self.base, self.base)}, self.issued
        if name == "issuer":
            with open(self.ca.cert, "rb") as f:
                return 200, {"Content-Type": "application/pem-certificate-chain"}, f.read()
        return 404, {}, {"type": "urn:ietf:params:acme:error:malformed", "detail": "no"}

    def start(self):
        fa = self
        names = {"/acct": "newAccount", "/new-order": "newOrder", "/authz/1": "authz",
                 "/order/1": "order", "/order/1/fin": "finalize", "/cert/1": "cert",
                 "/issuer": "issuer"}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            log_message = staticmethod(lambda *a: None)  # quiet

            def _send(self, status, hdrs, body):
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                    hdrs.setdefault("Content-Type", "application/json" if status < 400 else
                                    "application/problem+json")
                self.send_response(status)
                self.send_header("Replay-Nonce", fa._next_nonce())
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                d = {"newNonce": fa.base + "/nonce", "newAccount": fa.base + "/acct",
                     "newOrder": fa.base + "/new-order"}
                self._send(200 if self.path == "/dir" else 404, {}, d)

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Replay-Nonce", fa._next_nonce())
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                payload = _b64url_decode(jws["payload"]).decode()
                name = names.get(self.path, "other")
                with fa._lock:
                    fa._log.append((name, time.monotonic()))
                self._send(*fa._answer(self, name, payload))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = self._ctx.wrap_socket(self.server.socket, server_side=True)
        self.base = "https://localhost:%d" % self.server.server_address[1]
        self.directory = self.base + "/dir"
        st.background_server(self.server)
        return self

    def stop(self):
        st.stop_server(self.server)
