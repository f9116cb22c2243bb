"""Helpers shared by the report intake tests (python3 stdlib only).

A server with a test CA and a certificate for mta-sts.a.test, an HTTPS client that keeps its
connection alive (http.client, with SNI and certificate checks), distinct report bodies and
read access to the server's database with python's sqlite3.
"""

import copy
import gzip
import http.client
import json
import os
import socket
import sqlite3
import ssl
import sys

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

HOST = "mta-sts.a.test"
POLICY = "version: STSv1\nmode: enforce\nmx: mx1.a.test\nmax_age: 86400\n"
TLSRPT = os.path.join(st.TEST_DATA, "tlsrpt")

_ca = None


def ca():
    """One test CA per test script, with a leaf for HOST."""
    global _ca
    if _ca is None:
        d = st.tempdir("stsd-intake-ca-")
        c = st.TestCA(d)
        c.leaf = c.issue(HOST)
        _ca = c
    return _ca


def server(reports="", threads=2, policies=None, env=None, directory=None, start=True):
    """An stsd serve whose [reports] section holds `reports` (INI lines)."""
    c = ca()
    s = st.Stsd(policies=policies if policies is not None else {"a.test": POLICY},
                certs={HOST: c.leaf}, threads=threads,
                extra_config="[reports]\n" + reports, env=env, directory=directory)
    s.db = os.path.join(s.state_dir, "stsd.db")
    if start:
        s.start()
    return s


class Client:
    """HTTPS/1.1 keep-alive client to one server: post(body, ctype) -> (status, headers, body).
    Reconnects after the server closed the connection (h2o closes after a 413)."""

    def __init__(self, port, source=None, timeout=60):
        self.port = port
        self.source = source
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=ca().cert)
        self.conn = None

    def _connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout,
                                        (self.source, 0) if self.source else None)
        conn = http.client.HTTPSConnection(HOST, self.port, context=self.ctx,
                                           timeout=self.timeout)
        conn.sock = self.ctx.wrap_socket(sock, server_hostname=HOST)
        self.conn = conn

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close" or r.will_close:
                    self.close()
                return r.status, hdrs, data
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest, BrokenPipeError, ssl.SSLError):
                self.close()
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")

    def post(self, body, ctype="application/tlsrpt+json", path="/tlsrpt"):
        hdrs = {"Content-Type": ctype} if ctype is not None else {}
        return self.request("POST", path, body, hdrs)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def body_json(data):
    """The answer's JSON object, or {} when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return {}


BASE_REPORT = {
    "organization-name": "Intake Test Sender",
    "date-range": {"start-datetime": "2026-11-01T00:00:00Z",
                   "end-datetime": "2026-11-01T23:59:59Z"},
    "contact-info": "tlsrpt@sender.test",
    "report-id": "r-0",
    "policies": [{
        "policy": {"policy-type": "sts",
                   "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.a.test",
                                     "max_age: 86400"],
                   "policy-domain": "a.test", "mx-host": ["mx1.a.test"]},
        "summary": {"total-successful-session-count": 100,
                    "total-failure-session-count": 2},
        "failure-details": [{"result-type": "certificate-expired",
                             "sending-mta-ip": "192.0.2.1",
                             "receiving-mx-hostname": "mx1.a.test",
                             "receiving-ip": "198.51.100.7",
                             "failed-session-count": 2}]}],
}


def report(report_id, domain="a.test", org="Intake Test Sender"):
    """A valid report (dict) with this report-id and policy-domain."""
    r = copy.deepcopy(BASE_REPORT)
    r["report-id"] = report_id
    r["organization-name"] = org
    r["policies"][0]["policy"]["policy-domain"] = domain
    return r


def report_bytes(report_id, domain="a.test", gz=False, org="Intake Test Sender"):
    b = json.dumps(report(report_id, domain, org)).encode()
    return gzip.compress(b) if gz else b


def db_connect(path):
    c = sqlite3.connect(path, timeout=30)
    c.execute("PRAGMA foreign_keys=ON")
    return c


def db_rows(path, sql, args=()):
    c = db_connect(path)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def vm_hwm_kb(pid):
    """Peak resident set size of a process (VmHWM, kB)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def sample_cases(folder):
    """(name, path, expect-dict) of every *.json / *.json.gz in tests/data/tlsrpt/<folder>."""
    d = os.path.join(TLSRPT, folder)
    out = []
    for n in sorted(os.listdir(d)):
        if not (n.endswith(".json") or n.endswith(".json.gz")):
            continue
        stem = n[:-len(".json.gz")] if n.endswith(".json.gz") else n[:-len(".json")]
        exp = {}
        ep = os.path.join(d, stem + ".expect")
        if os.path.exists(ep):
            for line in open(ep, encoding="utf-8"):
                if ":" in line:
                    k, v = line.split(":", 1)
                    exp.setdefault(k.strip(), v.strip())
        out.append((n, os.path.join(d, n), exp))
    return out
