"""pebblelib - Debian's pebble (an ACME test CA) and pebble-challtestsrv (its DNS) on loopback,
for the tests of stsd's ACME client and of `stsd serve` ordering certificates.

    import pebblelib as pl
    pb = pl.Pebble(http_port=P80, tls_port=P443)   # ports stsd answers challenges on
    pb.start()                                      # challtestsrv + pebble, waits for /dir
    pb.directory, pb.ca_file        # [acme] directory, ca_file (trust for pebble's HTTPS)
    pb.root, pb.intermediate        # PEM files of the issuing root / intermediate
    pb.chain_ca                     # both in one file: `openssl verify -CAfile`, curl --cacert
    pb.add_a("mta-sts.a.test", ["127.0.0.2"]); pb.clear_a("mta-sts.a.test")
    pb.stop_pebble(); pb.start_pebble()   # the directory down and back (a NEW CA and accounts)
    pb.stop()

pebble validates for real (PEBBLE_VA_NOSLEEP=1 only removes its random sleep; the "always
valid" switch is never set): it asks challtestsrv's DNS, which answers every A query with
127.0.0.1 (IPv6 off) unless add_a() says otherwise, and connects to 127.0.0.1:http_port for
http-01 and 127.0.0.1:tls_port for tls-alpn-01. pebble rejects about 5 % of nonces (badNonce)
on purpose, as a client must handle it. Valid authorizations are reused 0 % of the time by
default (authz_reuse), so every order proves control again: a test of a failing challenge
would otherwise pass on an authorization a previous order left valid.

Also: acme_config() (the [acme] section for stsd), served_cert() (serial, issuer, not_after
and SANs of the certificate a TLS listener serves for an SNI), verify() (openssl verify of a
chain against pebble's root + intermediate).
"""

import json
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stsdtest as st  # noqa: E402


class Pebble:
    """pebble + pebble-challtestsrv on free loopback ports (see the module's text).

    http_port / tls_port: where pebble's VA connects for http-01 / tls-alpn-01 (the ports stsd
    listens on); free ports when not given. authz_reuse: PEBBLE_AUTHZREUSE (percent).
    nonce_reject: PEBBLE_WFE_NONCEREJECT (percent; None = pebble's default 5)."""

    def __init__(self, http_port=None, tls_port=None, directory=None, authz_reuse=0,
                 nonce_reject=None, env=None):
        self.dir = directory or st.tempdir("stsd-pebble-")
        self.http_port = http_port or st.free_port()
        self.tls_port = tls_port or st.free_port()
        self.port = st.free_port()          # pebble's ACME listener (HTTPS)
        self.mgmt_port = st.free_port()     # pebble's management listener (HTTPS)
        self.dns_port = st.free_port()      # challtestsrv DNS (UDP + TCP)
        self.chall_port = st.free_port()    # challtestsrv management (plain HTTP)
        self.directory = "https://localhost:%d/dir" % self.port
        self.ca = st.TestCA(os.path.join(self.dir, "ca"), name="stsd pebble test CA")
        self.ca_file = self.ca.cert
        leaf = self.ca.issue("localhost", sans=["localhost", "IP:127.0.0.1"], days=30)
        self.config = os.path.join(self.dir, "pebble.json")
        with open(self.config, "w") as f:
            json.dump({"pebble": {
                "listenAddress": "127.0.0.1:%d" % self.port,
                "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
                "certificate": leaf["chain"],
                "privateKey": leaf["key"],
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False}}, f, indent=1)
        self.env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": str(authz_reuse)}
        if nonce_reject is not None:
            self.env["PEBBLE_WFE_NONCEREJECT"] = str(nonce_reject)
        self.env.update(env or {})
        self.root = os.path.join(self.dir, "pebble-root.pem")
        self.intermediate = os.path.join(self.dir, "pebble-intermediate.pem")
        self.chain_ca = os.path.join(self.dir, "pebble-ca.pem")
        self.log_file = os.path.join(self.dir, "pebble.log")
        self.dns_log_file = os.path.join(self.dir, "challtestsrv.log")
        self.proc = None
        self.dns_proc = None
        self.starts = 0
        self._ctx = ssl.create_default_context(cafile=self.ca_file)
        st.Cleanup.add(self.stop)

    # ---- processes

    def start(self, timeout=20.0):
        """challtestsrv, then pebble; returns self once the directory answers."""
        self.start_dns(timeout)
        self.start_pebble(timeout)
        return self

    def start_dns(self, timeout=20.0):
        if self.dns_proc is not None and self.dns_proc.poll() is None:
            return
        cmd = ["pebble-challtestsrv", "-dns01", "127.0.0.1:%d" % self.dns_port,
               "-http01", "", "-https01", "", "-tlsalpn01", "",
               "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
               "-management", "127.0.0.1:%d" % self.chall_port]
        self.dns_proc = self._spawn(cmd, self.dns_log_file, {})
        if not st.wait_port("127.0.0.1", self.chall_port, timeout, self.dns_proc):
            raise RuntimeError("pebble-challtestsrv did not start:\n" + self._read(
                self.dns_log_file))
        deadline = time.monotonic() + timeout
        while st.dns_query("127.0.0.1", self.dns_port, "probe.test.", "A", 0.5) is None:
            if time.monotonic() > deadline or self.dns_proc.poll() is not None:
                raise RuntimeError("pebble-challtestsrv's DNS does not answer:\n" +
                                   self._read(self.dns_log_file))
            time.sleep(0.05)

    def start_pebble(self, timeout=20.0):
        """(Re)start pebble on the same ports. Each start is a new CA: new root, intermediate
        and no accounts; the PEM files are fetched again."""
        if self.proc is not None and self.proc.poll() is None:
            return
        cmd = ["pebble", "-config", self.config, "-dnsserver", "127.0.0.1:%d" % self.dns_port]
        self.proc = self._spawn(cmd, self.log_file, self.env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if json.loads(self.get(self.directory)).get("newNonce"):
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("pebble did not answer %s:\n%s" % (
                    self.directory, self._read(self.log_file)))
            time.sleep(0.05)
        self.starts += 1
        mgmt = "https://localhost:%d" % self.mgmt_port
        root = self.get(mgmt + "/roots/0")
        inter = self.get(mgmt + "/intermediates/0")
        for path, pem in ((self.root, root), (self.intermediate, inter),
                          (self.chain_ca, root + b"\n" + inter)):
            with open(path, "wb") as f:
                f.write(pem)
        return self

    def stop_pebble(self):
        if self.proc is not None:
            st._kill_proc(self.proc)
            self.proc = None

    def stop(self):
        self.stop_pebble()
        if self.dns_proc is not None:
            st._kill_proc(self.dns_proc)
            self.dns_proc = None

    def _spawn(self, cmd, log_file, extra_env):
        env = dict(os.environ)
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)  # validation is always for real here
        env.update(extra_env)
        log = open(log_file, "ab")
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=env, start_new_session=True)
        finally:
            log.close()

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def log(self):
        return self._read(self.log_file)

    # ---- HTTP

    def get(self, url, timeout=5.0):
        """GET one of pebble's HTTPS URLs (its certificate is from self.ca); the body."""
        with urllib.request.urlopen(url, timeout=timeout, context=self._ctx) as r:
            return r.read()

    def _chall(self, path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.chall_port, path),
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5.0) as r:
            if r.status != 200:
                raise RuntimeError("challtestsrv %s: HTTP %d" % (path, r.status))

    def add_a(self, host, addresses):
        """Make challtestsrv's DNS answer A queries for host with addresses (list)."""
        self._chall("/add-a", {"host": host.rstrip(".") + ".", "addresses": list(addresses)})

    def clear_a(self, host):
        """Back to the default answer (127.0.0.1) for host."""
        self._chall("/clear-a", {"host": host.rstrip(".") + "."})

    def resolve_a(self, host):
        """The IPv4 addresses challtestsrv's DNS answers for host (what pebble's VA sees)."""
        return dns_a("127.0.0.1", self.dns_port, host)

    def acme_config(self, challenge="http-01", http_listen=None, extra=""):
        """The [acme] section of an stsd config using this pebble."""
        lines = ["[acme]", "directory = " + self.directory, "ca_file = " + self.ca_file,
                 "challenge = " + challenge,
                 "http_listen = " + (http_listen or "127.0.0.1:%d" % self.http_port)]
        return "\n".join(lines) + "\n" + extra + "\n"


def dns_a(server, port, name, timeout=2.0):
    """The A records (dotted quads, in answer order) a DNS server gives for name over UDP;
    None when it does not answer."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, (server, port))
            data = s.recv(4096)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    ancount = struct.unpack(">H", data[6:8])[0]
    i = len(q)  # the answer repeats the question
    out = []
    for _ in range(ancount):
        while data[i] != 0 and data[i] < 0xC0:  # owner name: labels, maybe ending in a pointer
            i += data[i] + 1
        i += 2 if data[i] >= 0xC0 else 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            out.append(".".join(str(b) for b in data[i:i + 4]))
        i += rdlen
    return out


# ---------------------------------------------------------------------------------------------
# What a TLS listener serves


def served_cert(port, sni, addr="127.0.0.1", timeout=5.0):
    """The leaf a TLS listener on addr:port sends for SNI `sni` (not verified here): a dict
    with serial (hex, upper case, no leading zeros), issuer (openssl's one-line form), subject,
    not_after (openssl's text), sans (list of DNS names) and pem; None when no handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        with socket.create_connection((addr, port), timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                der = s.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    return cert_info(ssl.DER_cert_to_PEM_cert(der).encode())


def cert_info(pem):
    """serial/issuer/subject/not_after/sans of the first certificate in PEM bytes (openssl)."""
    r = st.run(["openssl", "x509", "-noout", "-serial", "-issuer", "-subject", "-enddate",
                "-ext", "subjectAltName", "-nameopt", "RFC2253"], input=pem, timeout=20)
    if r.returncode != 0:
        return None
    info = {"pem": pem, "sans": []}
    for line in r.out.splitlines():
        line = line.strip()
        if line.startswith("serial="):
            info["serial"] = line[7:].lstrip("0").upper() or "0"
        elif line.startswith("issuer="):
            info["issuer"] = line[7:]
        elif line.startswith("subject="):
            info["subject"] = line[8:]
        elif line.startswith("notAfter="):
            info["not_after"] = line[9:]
        elif line.startswith("DNS:"):
            info["sans"] = [x.strip()[4:] for x in line.split(",") if x.strip()[:4] == "DNS:"]
    return info


def verify(pb, chain_pem, host=None):
    """openssl verify of the leaf in chain_pem (bytes or a path) against pebble's root, the
    chain's other certificates as untrusted intermediates; with host, also -verify_hostname.
    Returns (ok, openssl's output)."""
    if isinstance(chain_pem, str):
        chain_pem = open(chain_pem, "rb").read()
    work = st.tempdir("stsd-verify-")
    certs = [b"-----BEGIN CERTIFICATE-----" + c for c in
             chain_pem.split(b"-----BEGIN CERTIFICATE-----")[1:]]
    leaf = os.path.join(work, "leaf.pem")
    rest = os.path.join(work, "untrusted.pem")
    with open(leaf, "wb") as f:
        f.write(certs[0] if certs else b"")
    with open(rest, "wb") as f:
        f.write(b"".join(certs[1:]) or open(pb.intermediate, "rb").read())
    cmd = ["openssl", "verify", "-CAfile", pb.root, "-untrusted", rest]
    if host:
        cmd += ["-verify_hostname", host]
    r = st.run(cmd + [leaf], timeout=20)
    return r.returncode == 0 and r.out.strip().endswith(": OK"), r.out + r.err


def wait_served_by(pb, port, sni, timeout=30.0, not_serial=None):
    """Poll until the listener serves, for sni, a certificate issued by this pebble (its issuer
    is pebble's intermediate) whose serial is not `not_serial`; the cert_info dict, or None at
    the deadline (then the last one seen is in wait_served_by.last)."""
    want_issuer = cert_info(open(pb.intermediate, "rb").read())["subject"]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = served_cert(port, sni)
        if last and last.get("issuer") == want_issuer and last.get("serial") != not_serial:
            wait_served_by.last = last
            return last
        time.sleep(0.2)
    wait_served_by.last = last
    return None
