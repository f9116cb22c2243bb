"""fakedir - a tiny fake ACME server (python3 stdlib, HTTPS with a test CA) for the answers a
real CA gives rarely: it serves the directory and newNonce, registers any account, and answers
the requests named in `limit` with 429, a Retry-After header and a rateLimited problem document.
Every request is recorded with its time, so a test can show the client waited.

    fd = FakeDir(ca, limit={"newOrder"}, retry_after=20).start()
    fd.directory, fd.ca_file                     # for [acme] directory / ca_file
    fd.requests("newOrder")                      # [Req(t, wall, method, name, path, ...)]
    fd.stop()

Names: "directory", "newNonce", "newAccount", "newOrder", "account" (POSTs to the account URL),
"other" (anything else: 404 malformed). Signatures are not checked: the client under test is
not what this server judges; the protected header of each JWS is decoded and kept (Req.protected)
so a test can look at url, nonce and kid.
"""

import base64
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stsdtest as st  # noqa: E402

RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"


class Req:
    def __init__(self, method, name, path, status, protected):
        self.t = time.monotonic()
        self.wall = time.time()
        self.method = method
        self.name = name
        self.path = path
        self.status = status
        self.protected = protected

    def __repr__(self):
        return "Req(%.3f %s %s %s -> %d)" % (self.wall, self.method, self.name, self.path,
                                             self.status)


def _b64url_json(s):
    try:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    except (ValueError, TypeError):
        return None


class FakeDir:
    """limit: the names answered 429 (see the module's text); retry_after: the header's value
    (an int, or a str sent as is, e.g. an HTTP-date); limit_count: how many of those requests
    are limited before they succeed (None = all of them)."""

    def __init__(self, ca=None, limit=("newOrder",), retry_after=20, limit_count=None,
                 directory=None):
        self.dir = directory or st.tempdir("stsd-fakedir-")
        self.ca = ca or st.TestCA(os.path.join(self.dir, "ca"), name="stsd fakedir test CA")
        self.ca_file = self.ca.cert
        leaf = self.ca.issue("localhost", sans=["localhost", "IP:127.0.0.1"], days=30,
                             name="fakedir-localhost")
        self.limit = set(limit)
        self.retry_after = retry_after
        self.limit_count = limit_count
        self.port = st.free_port()
        self.base = "https://localhost:%d" % self.port
        self.directory = self.base + "/dir"
        self._log = []
        self._lock = threading.Lock()
        self._nonce = 0
        self._limited = 0
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(leaf["chain"], leaf["key"])
        self.server = None

    # ---- what a test reads

    def requests(self, name=None):
        with self._lock:
            return [r for r in self._log if name is None or r.name == name]

    def wait_requests(self, name, count, timeout):
        """Poll until `count` requests named `name` arrived; the list, or None at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(name)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return None

    # ---- server

    def start(self):
        fd = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fd._handle(self, "GET")

            def do_HEAD(self):
                fd._handle(self, "HEAD")

            def do_POST(self):
                fd._handle(self, "POST")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):
                sock, addr = self.socket.accept()
                return fd._ctx.wrap_socket(sock, server_side=True), addr

        self.server = st.background_server(Server(("127.0.0.1", self.port), Handler))
        if not st.wait_port("127.0.0.1", self.port, 5):
            raise RuntimeError("fakedir did not listen")
        return self

    def stop(self):
        st.stop_server(self.server)

    def _name(self, path):
        return {"/dir": "directory", "/nonce": "newNonce", "/new-acct": "newAccount",
                "/new-order": "newOrder", "/acct/1": "account"}.get(path, "other")

    def _handle(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        protected = None
        if body:
            try:
                protected = _b64url_json(json.loads(body).get("protected", ""))
            except (ValueError, AttributeError):
                protected = None
        path = h.path.split("?", 1)[0]
        name = self._name(path)
        with self._lock:
            self._nonce += 1
            nonce = "fakenonce%08d" % self._nonce
            limited = name in self.limit and (self.limit_count is None or
                                              self._limited < self.limit_count)
            if limited:
                self._limited += 1
        headers = {"Replay-Nonce": nonce, "Cache-Control": "no-store"}
        if name == "directory" and method == "GET":
            status, doc = 200, {"newNonce": self.base + "/nonce",
                                "newAccount": self.base + "/new-acct",
                                "newOrder": self.base + "/new-order",
                                "revokeCert": self.base + "/revoke",
                                "keyChange": self.base + "/key-change",
                                "meta": {"termsOfService": "data:text/plain,fake"}}
            headers.pop("Replay-Nonce")
        elif name == "newNonce" and method in ("HEAD", "GET"):
            status, doc = (200 if method == "HEAD" else 204), None
        elif limited and method == "POST":
            status = 429
            doc = {"type": RATE_LIMITED, "status": 429,
                   "detail": "fakedir: too many %s requests" % name}
            headers["Retry-After"] = str(self.retry_after)
        elif name == "newAccount" and method == "POST":
            first = not any(r.name == "newAccount" and r.status in (200, 201)
                            for r in self.requests())
            status = 201 if first else 200
            doc = {"status": "valid", "orders": self.base + "/acct/1/orders"}
            headers["Location"] = self.base + "/acct/1"
        else:
            status = 404
            doc = {"type": "urn:ietf:params:acme:error:malformed", "status": 404,
                   "detail": "fakedir: nothing at %s %s" % (method, path)}
        with self._lock:
            self._log.append(Req(method, name, path, status, protected))
        data = b"" if doc is None else json.dumps(doc).encode()
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        if doc is not None:
            h.send_header("Content-Type", "application/problem+json" if status >= 400
                          else "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)
