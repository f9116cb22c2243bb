#!/usr/bin/env python3
"""bed.py - the test bed for `stsd check`: a real unbound serving a set of `.test`
domains, one per fault, real SMTP+STARTTLS servers (python ssl) on 127.0.0.x addresses that all
listen on the same port, and policy hosts on the same HTTPS port: `stsd serve` itself for the
good domains and a small python HTTPS server for the faulty ones. Every certificate comes from
a throw-away test CA (ECDSA P-256, root -> intermediate -> leaf) made with the openssl CLI.

Used by the checker's integration tests (import it) and by bench/check.sh:

    python3 tests/integration/checker/bed.py --serve [--dir DIR]

prints one JSON line (resolver, smtp_port, https_port, ca_file, domains) and keeps running
until it gets SIGTERM/SIGINT.

DOMAINS (below) is the catalogue: for each domain the records it publishes, the behaviour of
its hosts and the findings `stsd check` must report for it, designed from the finding catalogue and RFC 8461/
8460 (not from what the checker prints). Network traffic stays on 127.0.0.0/8.
"""

import json
import os
import random
import shutil
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import stsdtest as st  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Addresses. Everything is on 127.0.0.0/8, which Linux routes to lo without configuration.

STSD_ADDR = "127.0.0.10"      # stsd serve: the policy hosts of the good domains
GOOD_MX = ["127.0.0.20", "127.0.0.21"]
DEAD_ADDR = "127.0.0.99"      # nothing listens here: connection refused
V6_MX = "::1"                 # the second address of mx.mx-v6.test

POLICY_ID = "20261129T000000"

SMTP_BANNER_SLOW = 0.3        # "slow banner" (the parallelism bench uses it too)
BEYOND = 9.0                  # delay well beyond the catalogue's --timeout 3


def good_policy(mx, mode="enforce", max_age=604800, extra=""):
    lines = ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx]
    lines.append("max_age: %d" % max_age)
    return "\r\n".join(lines) + "\r\n" + extra


class Domain:
    """One domain of the bed.

    mx: [(preference, host)]; [(0, ".")] is a null MX; [] no MX record.
    sts / rpt: the TXT records at _mta-sts / _smtp._tls (each a list of strings = one
    record's character-strings, or a plain str).
    policy_host: None (mta-sts.<d> does not resolve), "stsd" (stsd serve hosts `policy`),
    or a behaviour of the python policy server ("policy", "redirect", "html", "404", "big",
    "delay:<s>", "wrongcert"), or "dead" (resolves to an address where nothing listens).
    "{https_port}" in a TXT record is replaced by the bed's HTTPS port.
    hosted: a policy file put into stsd's state dir while another host serves the domain;
    zone: an unbound local-zone type for the domain (e.g. "always_refuse"); extra: more
    unbound local-data records; config: checked with `-c` (the hosted-state comparison).
    expect: {finding id: severity}; subjects: {id: text the subject must contain};
    exit: the exit status of `stsd check` for this domain alone; timeout: --timeout to use;
    catalogue: checked by test_check_catalogue.py.
    """

    def __init__(self, name, mx, sts=None, rpt=None, policy_host="stsd", policy=None,
                 expect=None, subjects=None, exit=None, timeout=3, catalogue=True,
                 config=False, extra=(), hosted=None, zone=None):
        self.name = name
        self.hosted = hosted  # a policy file in stsd's state dir (when another host serves)
        self.zone = zone      # an unbound local-zone type for the domain itself
        self.extra = list(extra)  # more unbound local-data records
        self.mx = mx
        self.sts = ["v=STSv1; id=" + POLICY_ID] if sts is None else sts
        self.rpt = ["v=TLSRPTv1; rua=mailto:tlsrpt@" + name] if rpt is None else rpt
        self.policy_host = policy_host
        hosts = [h for _, h in mx if h != "."]
        self.policy = policy if policy is not None else good_policy(hosts)
        self.expect = expect or {}
        self.subjects = subjects or {}
        if exit is None:
            sev = set(self.expect.values())
            exit = 2 if "error" in sev else 1 if "warning" in sev else 0
        self.exit = exit
        self.timeout = timeout
        self.catalogue = catalogue
        self.config = config  # needs -c (the hosted-state comparison)


def _mxd(name, expect=None, exit=None, timeout=3, catalogue=True):
    """An MX-fault domain: one MX, mx.<name>, whose server has the fault; everything else
    (TXT records, policy hosted by stsd serve) is correct."""
    return Domain(name, [(10, "mx." + name)], expect=expect, exit=exit, timeout=timeout,
                  catalogue=catalogue,
                  subjects={k: "mx." + name for k in (expect or {})})


def _pd(name, behaviour, policy=None, mx=None, expect=None, subjects=None, timeout=3):
    """A policy-fault domain: its MX is the good shared mail.bed.test, its policy host is
    the python HTTPS server with `behaviour` at an address of its own."""
    mx = mx or [(10, "mail.bed.test")]
    return Domain(name, mx, policy_host=behaviour,
                  policy=policy if policy is not None else good_policy(["mail.bed.test"]),
                  expect=expect, timeout=timeout,
                  subjects=subjects or {k: name for k in (expect or {})})


E, W, I = "error", "warning", "info"

DOMAINS = [
    # --- the correct domain: two MX hosts, policy by stsd serve, all records right
    Domain("good.test", [(10, "mx1.good.test"), (20, "mx2.good.test")],
           policy=good_policy(["mx1.good.test", "*.good.test"])),

    # --- MX faults (RFC 8461 §4.2, findings mx.*)
    _mxd("mx-nostarttls.test", {"mx.starttls": E}),
    _mxd("mx-refused.test", {"mx.starttls": E}),            # 454 to STARTTLS
    _mxd("mx-expired.test", {"mx.cert.expired": E}),
    _mxd("mx-notyet.test", {"mx.cert.expired": E}),         # not yet valid
    _mxd("mx-wrongname.test", {"mx.cert.host": E}),
    _mxd("mx-selfsigned.test", {"mx.cert.untrusted": E}),
    _mxd("mx-nochain.test", {"mx.cert.untrusted": E}),      # intermediate not sent
    _mxd("mx-tls10.test", {"mx.tls.version": E}),
    _mxd("mx-garbage.test", {"mx.tls.handshake": E}),       # garbage after 220 Ready
    _mxd("mx-slow.test", {}),                               # 300 ms banner: fine
    _mxd("mx-silent.test", {"mx.unreachable": E}),          # banner beyond the timeout
    _mxd("mx-unreachable.test", {"mx.unreachable": E}),     # nothing listening
    _mxd("mx-expiring.test", {"mx.cert.expiring": W}),      # 5 days left
    _mxd("mx-slow5.test", {"mx.slow": W}, timeout=8),       # 5.5 s banner (checker.h mx.slow)
    _mxd("mx-endless.test", None, catalogue=False),         # endless banner: badinput
    # one MX, two addresses, one of them dead: the MX answers, so no mx.unreachable
    _mxd("mx-partial.test", {}),
    # one MX with an A and an AAAA record (::1): both addresses are probed
    _mxd("mx-v6.test", {}),

    # --- policy host faults (RFC 8461 §3.3, findings sts.fetch.* and sts.policy.*)
    _pd("p-redirect.test", "redirect", expect={"sts.fetch.redirect": E}),
    _pd("p-html.test", "html", expect={"sts.fetch.content-type": E}),
    _pd("p-404.test", "404", expect={"sts.fetch.status": E}),
    _pd("p-big.test", "big", expect={"sts.fetch.size": E}),
    _pd("p-timeout.test", "delay:%g" % BEYOND, expect={"sts.fetch.timeout": E}),
    _pd("p-slow.test", "delay:5", expect={"sts.fetch.slow": W}, timeout=8),
    _pd("p-wrongcert.test", "wrongcert", expect={"sts.fetch.tls": E}),
    # no version line: a §2 validation error (mode, mx and max_age are fine on their own)
    _pd("p-broken.test", "policy", policy="mode: enforce\r\nmx: mail.bed.test\r\n"
        "max_age: 604800\r\n", expect={"sts.policy.syntax": E}),
    _pd("p-testing.test", "policy", policy=good_policy(["mail.bed.test"], mode="testing"),
        expect={"sts.policy.mode": W}),
    _pd("p-none.test", "policy", policy=good_policy([], mode="none"),
        expect={"sts.policy.mode": I}),
    _pd("p-maxage.test", "policy", policy=good_policy(["mail.bed.test"], max_age=86400),
        expect={"sts.policy.max-age": W}),
    _pd("p-unknown.test", "policy", policy=good_policy(["mail.bed.test"],
                                                       extra="colour: blue\r\n"),
        expect={"sts.policy.unknown-key": W}),
    _pd("p-unmatched.test", "policy", mx=[(10, "mail.bed.test"), (20, "mail2.bed.test")],
        expect={"sts.mx.unmatched": E}, subjects={"sts.mx.unmatched": "mail2.bed.test"}),
    _pd("p-unmatched-testing.test", "policy",
        policy=good_policy(["mail.bed.test"], mode="testing"),
        mx=[(10, "mail.bed.test"), (20, "mail2.bed.test")],
        expect={"sts.mx.unmatched": W, "sts.policy.mode": W},
        subjects={"sts.mx.unmatched": "mail2.bed.test",
                  "sts.policy.mode": "p-unmatched-testing.test"}),
    # RFC 8461 §4.1: "*.wild.test" covers mx.wild.test but not a.b.wild.test
    _pd("p-wildcard.test", "policy", policy=good_policy(["*.wild.test"]),
        mx=[(10, "mx.wild.test"), (20, "a.b.wild.test")],
        expect={"sts.mx.unmatched": E}, subjects={"sts.mx.unmatched": "a.b.wild.test"}),
    # MX names compare case-insensitively (RFC 8461 §4.1, RFC 4343)
    _pd("p-case.test", "policy", mx=[(10, "MAIL.Bed.Test")], expect={}),
    # a duplicate key: the first wins, and it is a warning
    _pd("p-dupkey.test", "policy", policy=good_policy(["mail.bed.test"],
                                                      extra="max_age: 86400\r\n"),
        expect={"sts.policy.unknown-key": W}),
    _pd("p-unused.test", "policy", policy=good_policy(["mail.bed.test", "*.unused.test"]),
        expect={"sts.mx.unused-pattern": W}, subjects={"sts.mx.unused-pattern": "*.unused.test"}),

    # --- DNS faults (RFC 8461 §3.1, RFC 8460 §3, RFC 7505)
    Domain("d-nosts-host.test", [(10, "mail.bed.test")], sts=[],
           expect={"sts.txt.missing": E}),
    Domain("d-nosts.test", [(10, "mail.bed.test")], sts=[], rpt=[], policy_host=None,
           expect={"sts.txt.missing": W}),
    Domain("d-sts-multiple.test", [(10, "mail.bed.test")],
           sts=["v=STSv1; id=" + POLICY_ID, "v=STSv1; id=20260101T000000"],
           expect={"sts.txt.multiple": E}),
    Domain("d-sts-syntax.test", [(10, "mail.bed.test")],
           sts=["v=STSv1; id=%s; thisextensionnameislongerthan32chars=1" % POLICY_ID],
           expect={"sts.txt.syntax": E}),
    Domain("d-sts-id.test", [(10, "mail.bed.test")], sts=["v=STSv1; id=2026-11-29"],
           expect={"sts.txt.id": E}),
    Domain("d-norpt.test", [(10, "mail.bed.test")], rpt=[], expect={"rpt.txt.missing": W}),
    Domain("d-rpt-multiple.test", [(10, "mail.bed.test")],
           rpt=["v=TLSRPTv1; rua=mailto:a@d-rpt-multiple.test",
                "v=TLSRPTv1; rua=mailto:b@d-rpt-multiple.test"],
           expect={"rpt.txt.multiple": E}),
    Domain("d-rpt-syntax.test", [(10, "mail.bed.test")],
           rpt=["v=TLSRPTv1; rua=ftp://reports.d-rpt-syntax.test/tlsrpt"],
           expect={"rpt.txt.syntax": E}),
    Domain("d-rpt-https.test", [(10, "mail.bed.test")],
           rpt=["v=TLSRPTv1; rua=https://reports.nowhere.test/tlsrpt"],
           expect={"rpt.rua.https": W}),
    # the name exists (a TXT record), but has no MX and no address
    Domain("d-nomx.test", [], sts=[], rpt=[], policy_host=None,
           extra=['d-nomx.test. 300 IN TXT "v=spf1 -all"'],
           expect={"mx.none": E, "sts.txt.missing": W}),
    Domain("d-nullmx.test", [(0, ".")], sts=[], rpt=[], policy_host=None,
           expect={"mx.none": I, "sts.txt.missing": W}),
    Domain("d-nohost.test", [(10, "mail.bed.test")], policy_host=None,
           expect={"sts.host.dns": E}),
    # the zone's server refuses every query (REFUSED): a failed query, not a missing record
    Domain("d-refused.test", [(10, "mail.bed.test")], zone="always_refuse",
           expect={"dns.error": E}),
    # https: rua whose host resolves but serves a certificate for another name
    Domain("d-rua-cert.test", [(10, "mail.bed.test")],
           rpt=["v=TLSRPTv1; rua=https://mta-sts.p-wrongcert.test:{https_port}/tlsrpt"],
           expect={"rpt.rua.https": W}, subjects={"rpt.rua.https": "mta-sts.p-wrongcert.test"}),
    # the policy host resolves but nothing listens (checker.h: sts.fetch.connect)
    _pd("p-dead.test", "dead", expect={"sts.fetch.connect": E}),

    # --- with -c: compared with what this stsd hosts
    # the hosted policy changed (stsd policy set twice) but DNS publishes the first id
    Domain("stale.test", [(10, "mail.bed.test")], sts=[], expect={"sts.txt.stale-id": W},
           config=True),
    # stsd hosts one policy, but mta-sts.<d> points at another server with another policy
    Domain("hosted-mismatch.test", [(10, "mail.bed.test")], sts=[], policy_host="policy",
           policy=good_policy(["mail.bed.test"], max_age=1209600),
           hosted=good_policy(["mail.bed.test"]), config=True,
           expect={"sts.hosted.mismatch": W}),
    # stsd serves this policy with a certificate (in cert_dir) that expires in 5 days
    Domain("hosted-cert.test", [(10, "mail.bed.test")], sts=[], config=True,
           expect={"sts.host.cert-expiring": W}),

    # --- bad input (test_check_badinput.py)
    Domain("bigtxt.test", [(10, "mail.bed.test")],
           sts=["v=STSv1; id=" + "a" * (64000 - 12)], catalogue=False),
    Domain("many.test", [(10, "mx%04d.many.test" % i) for i in range(1000)], sts=[], rpt=[],
           policy_host=None, catalogue=False),

    # --- the parallelism bench: 5 MX hosts with 300 ms banners vs one
    Domain("par5.test", [(10 * i, "mx%d.par5.test" % i) for i in range(1, 6)],
           catalogue=False),
    Domain("par1.test", [(10, "mx1.par1.test")], catalogue=False),
]

# MX fault behaviours: host -> (address, behaviour, certificate kind)
MX_FAULTS = {
    "mx-nostarttls.test": ("127.0.0.30", "nostarttls", "good"),
    "mx-refused.test": ("127.0.0.31", "refuse", "good"),
    "mx-expired.test": ("127.0.0.32", "ok", "expired"),
    "mx-notyet.test": ("127.0.0.33", "ok", "notyet"),
    "mx-wrongname.test": ("127.0.0.34", "ok", "wrongname"),
    "mx-selfsigned.test": ("127.0.0.35", "ok", "selfsigned"),
    "mx-nochain.test": ("127.0.0.36", "ok", "nochain"),
    "mx-tls10.test": ("127.0.0.37", "tls10", "good"),
    "mx-garbage.test": ("127.0.0.38", "garbage", "good"),
    "mx-slow.test": ("127.0.0.39", "delay:%g" % SMTP_BANNER_SLOW, "good"),
    "mx-silent.test": ("127.0.0.40", "delay:%g" % BEYOND, "good"),
    "mx-unreachable.test": (DEAD_ADDR, None, None),
    "mx-expiring.test": ("127.0.0.42", "ok", "expiring"),
    "mx-slow5.test": ("127.0.0.43", "delay:5.5", "good"),
    "mx-endless.test": ("127.0.0.44", "endless", "good"),
    "mx-v6.test": ("127.0.0.45", "ok", "good"),  # and ::1, see Bed._smtp
}


def dom(name):
    for d in DOMAINS:
        if d.name == name:
            return d
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# SMTP server: RFC 5321 greeting, EHLO, RFC 3207 STARTTLS, with one fault per instance.


class _Lines:
    """Reads CRLF lines from a socket (capped at 1000 bytes a line)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 1000:
                return None
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")


class SMTPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        sock.settimeout(60)
        try:
            self.session(srv, sock)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def session(self, srv, sock):
        b = srv.behaviour
        if b.startswith("delay:"):
            if srv.stopping.wait(float(b.split(":")[1])):
                return
        if b == "endless":
            # a multi-line greeting that never ends: one continuation line every 20 ms
            deadline = time.monotonic() + 120
            n = 0
            while time.monotonic() < deadline and not srv.stopping.is_set():
                sock.sendall(b"220-%s greeting line %d, and more to come\r\n" %
                             (srv.hostname.encode(), n))
                n += 1
                time.sleep(0.02)
            return
        sock.sendall(b"220 %s ESMTP stsd test bed\r\n" % srv.hostname.encode())
        rd = _Lines(sock)
        tls = False
        while True:
            line = rd.readline()
            if line is None:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                caps = ["250-%s hello" % srv.hostname, "250-PIPELINING", "250-SIZE 10240000"]
                if not tls and b != "nostarttls":
                    caps.append("250-STARTTLS")
                caps.append("250 8BITMIME")
                sock.sendall(("\r\n".join(caps) + "\r\n").encode())
            elif verb == "STARTTLS" and not tls:
                if b == "nostarttls":
                    sock.sendall(b"502 5.5.1 STARTTLS not supported\r\n")
                elif b == "refuse":
                    sock.sendall(b"454 4.7.0 TLS not available due to temporary reason\r\n")
                elif b == "garbage":
                    sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all\r\n")
                    return
                else:
                    if rd.buf:  # RFC 3207 §4.2 forbids pipelining past STARTTLS
                        sock.sendall(b"501 5.5.1 pipelined data after STARTTLS\r\n")
                        return
                    sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    sock = srv.ssl_ctx.wrap_socket(sock, server_side=True)
                    rd = _Lines(sock)
                    tls = True
            elif verb == "QUIT":
                sock.sendall(b"221 2.0.0 bye\r\n")
                return
            elif verb in ("NOOP", "RSET"):
                sock.sendall(b"250 2.0.0 ok\r\n")
            else:
                sock.sendall(b"502 5.5.2 command not implemented\r\n")


class BedServer:
    """What the bed's threaded servers share: they serve on a socket bound beforehand."""
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def adopt(self, sock, **attrs):
        """Serve on sock instead of the socket the base class made; set attrs."""
        self.socket.close()
        self.socket = sock
        for k, v in attrs.items():
            setattr(self, k, v)


class SMTPServer(BedServer, socketserver.ThreadingMixIn, socketserver.TCPServer):
    def __init__(self, sock, hostname, behaviour, ssl_ctx, stopping):
        socketserver.TCPServer.__init__(self, sock.getsockname(), SMTPHandler,
                                        bind_and_activate=False)
        self.adopt(sock, hostname=hostname, behaviour=behaviour, ssl_ctx=ssl_ctx,
                   stopping=stopping)

    def handle_error(self, request, client_address):
        pass  # a probe that hangs up early is normal here


# ---------------------------------------------------------------------------------------------
# Python HTTPS policy server (the faulty policy hosts).


class PolicyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stsd-bed"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        srv = self.server
        b = srv.behaviour
        if self.path != "/.well-known/mta-sts.txt":
            return self._send(404, "text/plain", b"not found\n")
        body = srv.policy.encode()
        if b.startswith("delay:"):
            if srv.stopping.wait(float(b.split(":")[1])):
                return
        if b == "redirect":
            return self._send(301, "text/html", b"<a href=\"x\">moved</a>\n",
                              [("Location", "https://mta-sts.good.test/.well-known/mta-sts.txt")])
        if b == "html":
            return self._send(200, "text/html; charset=utf-8", body)
        if b == "404":
            return self._send(404, "text/plain", b"no policy here\n")
        if b == "big":
            # a valid policy followed by 70 KiB of padding in an unknown key's value
            body = body + b"padding: " + b"x" * (70 * 1024) + b"\r\n"
        return self._send(200, "text/plain; charset=utf-8", body)


class PolicyServer(BedServer, ThreadingHTTPServer):
    def __init__(self, sock, behaviour, policy, ssl_ctx, stopping):
        ThreadingHTTPServer.__init__(self, sock.getsockname(), PolicyHandler,
                                     bind_and_activate=False)
        self.adopt(sock, behaviour=behaviour, policy=policy, ssl_ctx=ssl_ctx, stopping=stopping)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        try:
            PolicyHandler(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


# ---------------------------------------------------------------------------------------------
# The bed.


def _listen(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        s.listen(128)
    except OSError:
        s.close()
        raise
    return s


def _listen_all(addrs, port=None, tries=50):
    """Listening sockets on every address, all on one port (given, or a free one)."""
    for _ in range(tries if port is None else 1):
        p = port or random.randrange(20000, 60000)
        socks = []
        try:
            for a in addrs:
                socks.append(_listen(a, p))
            return p, socks
        except OSError:
            for s in socks:
                s.close()
    raise RuntimeError("no common free port on %s" % ", ".join(addrs))


def _server_ctx(chain, key, tls10=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    if tls10:
        # TLS 1.0 only: Debian's OpenSSL 3 allows it at security level 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
    return ctx


class Bed:
    """The whole bed. start() brings everything up, stop() takes it down (also at exit).

    smtp_port / https_port / dns_port: fixed ports (the netns test uses 25/443/53), else free
    ones. good_backend: "stsd" (stsd serve hosts the good policies) or "python" (the python
    server does, for running the bed without a working `stsd serve`)."""

    def __init__(self, directory=None, smtp_port=None, https_port=None, dns_port=None,
                 good_backend="stsd", stsd_bin=None):
        self.dir = directory or st.tempdir("stsd-checkbed-")
        os.makedirs(self.dir, exist_ok=True)
        self.smtp_port = smtp_port
        self.https_port = https_port
        self.dns_port = dns_port
        self.good_backend = good_backend
        self.stsd_bin = stsd_bin or st.STSD_BIN
        self.stopping = threading.Event()
        self.servers = []
        self.stsd = None
        self.unbound = None
        self.stale_error = None
        self.stale_ids = None
        self.hosts = {}          # host name -> [addresses]
        self.policy_addrs = {}   # domain -> address of its python policy server

    # -- certificates
    def _certs(self):
        ca = self.ca = st.TestCA(os.path.join(self.dir, "ca"))
        self.ca_file = ca.cert
        good_names = ["mx1.good.test", "mx2.good.test", "mail.bed.test", "mail2.bed.test",
                      "mx.mx-partial.test", "*.many.test", "mx.wild.test", "a.b.wild.test"]
        c = {}
        c["goodmx"] = ca.issue("mail.bed.test", sans=good_names, days=365, intermediate=True,
                               name="goodmx")
        c["par"] = ca.issue("mx1.par1.test",
                            sans=["mx1.par1.test"] + ["mx%d.par5.test" % i for i in range(1, 6)],
                            days=365, intermediate=True, name="parmx")
        for d, (addr, beh, kind) in MX_FAULTS.items():
            host = "mx." + d
            if kind == "good":
                c[d] = ca.issue(host, days=365, intermediate=True, name=d)
            elif kind == "expired":
                c[d] = ca.issue(host, days=-30, intermediate=True, name=d)
            elif kind == "notyet":
                c[d] = ca.issue(host, not_before_days=30, days=365, intermediate=True, name=d)
            elif kind == "wrongname":
                c[d] = ca.issue("mx.elsewhere.test", days=365, intermediate=True, name=d)
            elif kind == "selfsigned":
                c[d] = ca.self_signed(host, days=365)
            elif kind == "nochain":
                leaf = ca.issue(host, days=365, intermediate=True, name=d)
                leaf = dict(leaf, chain=leaf["cert"])  # the intermediate is not sent
                c[d] = leaf
            elif kind == "expiring":
                c[d] = ca.issue(host, days=6, intermediate=True, name=d)  # 5 days left
        stsd_hosts = ["mta-sts." + d.name for d in DOMAINS if d.policy_host == "stsd"]
        c["stsd"] = ca.issue(stsd_hosts[0], sans=stsd_hosts, days=365, intermediate=True,
                             name="stsdhosts")
        py_hosts = ["mta-sts." + d.name for d in DOMAINS
                    if d.policy_host not in (None, "stsd", "wrongcert", "dead")]
        c["py"] = ca.issue(py_hosts[0], sans=py_hosts, days=365, intermediate=True,
                           name="pyhosts")
        c["hosted-cert"] = ca.issue("mta-sts.hosted-cert.test", days=6, intermediate=True,
                                    name="hostedcert")
        c["wrongcert"] = ca.issue("mta-sts.elsewhere.test", days=365, intermediate=True,
                                  name="wrongpolicy")
        self.certs = c

    # -- SMTP servers
    def _smtp(self):
        plan = []  # (address, hostname, behaviour, cert)
        for a in GOOD_MX:
            plan.append((a, "mail.bed.test", "ok", self.certs["goodmx"], False))
        par = ["mx1.par1.test"] + ["mx%d.par5.test" % i for i in range(1, 6)]
        for i, h in enumerate(par):
            plan.append(("127.0.0.%d" % (60 + i), h, "delay:%g" % SMTP_BANNER_SLOW,
                         self.certs["par"], False))
            self.hosts[h] = ["127.0.0.%d" % (60 + i)]
        for d, (addr, beh, kind) in MX_FAULTS.items():
            self.hosts["mx." + d] = [addr]
            if beh is None:
                continue
            plan.append((addr, "mx." + d, "ok" if beh == "tls10" else beh, self.certs[d],
                         beh == "tls10"))
        for h in ["mx1.good.test", "mail.bed.test", "mx.wild.test", "a.b.wild.test"]:
            self.hosts[h] = [GOOD_MX[0]]
        for h in ["mx2.good.test", "mail2.bed.test"]:
            self.hosts[h] = [GOOD_MX[1]]
        self.hosts["mx.mx-partial.test"] = [DEAD_ADDR, GOOD_MX[0]]
        self.hosts["mx.mx-v6.test"] = [MX_FAULTS["mx-v6.test"][0], V6_MX]
        plan.append((V6_MX, "mx.mx-v6.test", "ok", self.certs["mx-v6.test"], False))
        for i in range(1000):
            self.hosts["mx%04d.many.test" % i] = [GOOD_MX[i % 2]]
        self.smtp_port, socks = _listen_all([p[0] for p in plan], self.smtp_port)
        for (addr, host, beh, cert, tls10), sock in zip(plan, socks):
            ctx = _server_ctx(cert["chain"], cert["key"], tls10)
            self._serve(SMTPServer(sock, host, beh, ctx, self.stopping))

    def _serve(self, srv):
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True)
        t.start()
        self.servers.append(srv)

    # -- policy hosts
    def _policy_hosts(self):
        plan = []
        n = 0
        for d in DOMAINS:
            if d.policy_host is None:
                continue
            if d.policy_host == "stsd" and self.good_backend == "stsd":
                self.hosts["mta-sts." + d.name] = [STSD_ADDR]
                continue
            if d.policy_host == "dead":
                self.hosts["mta-sts." + d.name] = [DEAD_ADDR]
                continue
            addr = "127.0.0.%d" % (100 + n)
            n += 1
            self.hosts["mta-sts." + d.name] = [addr]
            self.policy_addrs[d.name] = addr
            beh = "policy" if d.policy_host == "stsd" else d.policy_host
            cert = self.certs["wrongcert" if beh == "wrongcert" else "py"]
            if d.policy_host == "stsd":
                cert = self.certs["stsd"]
            plan.append((addr, beh, d.policy, cert))
        addrs = [p[0] for p in plan]
        if self.good_backend == "stsd":
            addrs.append(STSD_ADDR)
        self.https_port, socks = _listen_all(addrs, self.https_port)
        if self.good_backend == "stsd":
            socks.pop().close()  # free again for stsd serve
        for (addr, beh, policy, cert), sock in zip(plan, socks):
            ctx = _server_ctx(cert["chain"], cert["key"])
            self._serve(PolicyServer(sock, beh, policy, ctx, self.stopping))
        if self.good_backend == "stsd":
            self._stsd()
        else:
            self.stale_error = "stale.test needs stsd serve (the python backend hosts nothing)"

    def _stsd(self):
        pols = {d.name: d.policy for d in DOMAINS
                if d.policy_host == "stsd" and d.name != "stale.test"}
        pols.update({d.name: d.hosted for d in DOMAINS if d.hosted})
        certs = {"mta-sts." + d: self.certs["stsd"] for d in pols}
        certs["mta-sts.stale.test"] = self.certs["stsd"]
        certs["mta-sts.hosted-cert.test"] = self.certs["hosted-cert"]
        self.stsd = st.Stsd(policies=pols, certs=certs, threads=1,
                            listen=["%s:%d" % (STSD_ADDR, self.https_port)],
                            directory=os.path.join(self.dir, "stsd"))
        self.config = self.stsd.config
        self._stale()
        self._hosted_ids()
        self.stsd.start(timeout=20)

    def _policy_id(self, domain):
        """The id `stsd policy dns` tells to publish for a hosted domain."""
        r = st.run([self.stsd_bin, "-c", self.config, "policy", "dns", domain], timeout=30)
        for line in r.out.splitlines():
            if line.startswith("_mta-sts.") and "id=" in line:
                return line.split("id=", 1)[1].split('"')[0].split(";")[0].strip()
        raise RuntimeError("stsd policy dns %s: rc=%r out=%r err=%r" %
                           (domain, r.returncode, r.out, r.err))

    def _hosted_ids(self):
        """Config domains other than stale.test publish the id of their hosted policy."""
        for d in DOMAINS:
            if d.config and d.name != "stale.test":
                try:
                    d.sts = ["v=STSv1; id=" + self._policy_id(d.name)]
                except (RuntimeError, OSError) as e:
                    self.stale_error = str(e)
                    d.sts = ["v=STSv1; id=" + POLICY_ID]

    def _stale(self):
        """stale.test: `stsd policy set` twice; DNS keeps publishing the first id."""
        d = dom("stale.test")
        ids = []
        try:
            for max_age in (604800, 1209600):
                r = st.run([self.stsd_bin, "-c", self.config, "policy", "set", d.name,
                            "--mode", "enforce", "--mx", "mail.bed.test", "--max-age",
                            str(max_age)], timeout=30)
                if r.returncode != 0:
                    raise RuntimeError("stsd policy set: rc=%r %s" % (r.returncode, r.err))
                ids.append(self._policy_id(d.name))
            if ids[0] == ids[1]:
                raise RuntimeError("policy set twice gave one id %s" % ids[0])
            self.stale_ids = ids
            d.sts = ["v=STSv1; id=" + ids[0]]
        except (RuntimeError, OSError) as e:
            self.stale_error = str(e)
            d.sts = ["v=STSv1; id=" + POLICY_ID]

    # -- DNS
    def records(self):
        recs = []
        for d in DOMAINS:
            for pref, host in d.mx:
                recs.append("%s. 300 IN MX %d %s." % (d.name, pref, host.rstrip(".")) if
                            host != "." else "%s. 300 IN MX 0 ." % d.name)
            for name, txts in (("_mta-sts." + d.name, d.sts), ("_smtp._tls." + d.name, d.rpt)):
                for t in txts:
                    t = t.replace("{https_port}", str(self.https_port))
                    parts = t if isinstance(t, list) else [t[i:i + 255]
                                                           for i in range(0, len(t), 255)]
                    recs.append("%s. 300 IN TXT %s" % (name, " ".join('"%s"' % p
                                                                       for p in parts)))
            recs += d.extra
        for h, addrs in self.hosts.items():
            for a in addrs:
                recs.append("%s. 300 IN %s %s" % (h, "AAAA" if ":" in a else "A", a))
        return recs

    def _dns(self):
        os.makedirs(os.path.join(self.dir, "unbound"), exist_ok=True)
        zones = {"test.": "static"}
        zones.update({d.name + ".": d.zone for d in DOMAINS if d.zone})
        self.unbound = st.Unbound(self.records(), zones=zones, port=self.dns_port,
                                  directory=os.path.join(self.dir, "unbound"))
        self.unbound.start(timeout=20, probe="good.test.")
        self.dns_port = self.unbound.port
        self.resolver = "127.0.0.1@%d" % self.dns_port

    def start(self):
        st.Cleanup.add(self.stop)
        self._certs()
        self._smtp()
        self._policy_hosts()
        self._dns()
        return self

    def stop(self):
        # a second SIGTERM must not cut the cleanup short (stsdtest turns it into SystemExit)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
        self.stopping.set()
        for s in self.servers:
            try:
                s.shutdown()
                s.server_close()
            except OSError:
                pass
        self.servers = []
        if self.unbound:
            self.unbound.stop()
        if self.stsd:
            self.stsd.stop()

    def check_args(self, timeout=3, resolver=True):
        """The flags that point `stsd check` at this bed."""
        a = ["--json", "--ca-file", self.ca_file, "--smtp-port", str(self.smtp_port),
             "--https-port", str(self.https_port), "--timeout", str(timeout)]
        if resolver:
            a += ["--resolver", self.resolver]
        return a

    def check(self, domains, timeout=3, extra=(), wall=120):
        """Run `stsd check` on domains; returns (Result, parsed JSON or None, seconds)."""
        cmd = [self.stsd_bin, "check"] + self.check_args(timeout) + list(extra) + list(domains)
        t0 = time.monotonic()
        r = st.run(cmd, timeout=wall)
        dt = time.monotonic() - t0
        try:
            js = json.loads(r.out)
        except ValueError:
            js = None
        return r, js, dt

    def info(self):
        return {"resolver": self.resolver, "dns_port": self.dns_port,
                "smtp_port": self.smtp_port, "https_port": self.https_port,
                "ca_file": self.ca_file, "config": getattr(self, "config", None),
                "stale_error": self.stale_error,
                "domains": [d.name for d in DOMAINS]}


# ---------------------------------------------------------------------------------------------
# Helpers the tests share.

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "ERROR: ThreadSanitizer")


def sanitizer_report(stderr_text):
    """The first sanitizer line in stderr, or None."""
    for line in stderr_text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


def findings_of(js, domain):
    """{id: severity} and the finding list of one domain from `stsd check --json`."""
    for d in (js or {}).get("domains", []):
        if d.get("domain") == domain:
            return d
    return None


def main():
    import argparse
    ap = argparse.ArgumentParser(description="stsd checker test bed")
    ap.add_argument("--serve", action="store_true", help="start the bed and keep it running")
    ap.add_argument("--dir", help="work directory (default: a temp dir removed at exit)")
    ap.add_argument("--python-policy", action="store_true",
                    help="serve the good policies from python instead of stsd serve")
    ap.add_argument("--smtp-port", type=int)
    ap.add_argument("--https-port", type=int)
    ap.add_argument("--dns-port", type=int)
    args = ap.parse_args()
    if not args.serve:
        ap.print_help()
        return 64
    bed = Bed(directory=args.dir, smtp_port=args.smtp_port, https_port=args.https_port,
              dns_port=args.dns_port,
              good_backend="python" if args.python_policy else "stsd")
    bed.start()
    print(json.dumps(bed.info()), flush=True)
    try:
        while True:
            signal.pause()  # SIGTERM/SIGINT end it (stsdtest.Cleanup stops everything)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
