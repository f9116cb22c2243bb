#!/usr/bin/python3
"""The unauthenticated ACME surfaces, against a release build ([acme] directory is a closed
loopback port: the listeners exist, no CA answers):

1. the port-80 http-01 listener ([acme] http_listen), whose caps are its own and smaller than
   the HTTPS listeners' ([server] max_conn_per_address = 40 here):
   a. one address opens ACME_PER_ADDRESS + 30 connections: the 30 above the port-80 cap are
      closed by the server (logged), and the same address still fetches the policy on 443;
   b. slowloris: 40 addresses open ACME_PER_ADDRESS connections each (320): the server holds
      ACME_ALL of them and closes the rest; half of them send half a request line, half
      trickle one header byte a second; meanwhile a sender fetches the policy on 443: its p99
      stays under 100 ms with no failure, serve's RSS grows by less than RSS_BOUND MB, the
      server closes every stalled connection by itself (h2o's 10 s request timeout, not reset
      by a trickled byte), and port 80 answers again afterwards;
   c. a 512 KB URL (past h2o's request length limit) and 200 headers of 100 bytes each get a
      4xx and a close, 100 of each at once leave RSS within RSS_BOUND; 256 POSTs announcing
      10 MB bodies (and a chunked one) get 413 before the body is read, RSS within RSS_BOUND
      (h2o would buffer each up to [reports] max_body otherwise); 2,000 pipelined GETs of
      unknown tokens all get 404, and up to 20 MB of pipelined requests whose answers are never
      read leave RSS within RSS_BOUND;
   d. 320 connections from 40 addresses each send an unfinished header of 396 KB (just below
      h2o's request length limit): ACME_ALL are held, each costing serve under HOLD_KB of RSS,
      so what the port-80 listener can be made to hold is bounded by ACME_ALL x HOLD_KB; a
      second wave reuses that memory (RSS grows by less than RSS_BOUND more);
2. acme-tls/1 on 443 ([acme] challenge = tls-alpn-01) with no challenge pending: N handshakes
   offering only acme-tls/1 cost serve no more CPU than N ordinary ones (ratio < 1.5), none of
   them selects acme-tls/1, and each gets the ordinary certificate for the name;
3. the same with a tls-alpn-01 challenge pending for mta-sts.a.test (a fake CA that keeps the
   authorization pending): N acme-tls/1 handshakes for that name each get acme-tls/1 and the
   validation certificate (its acmeIdentifier extension), made once when the challenge was
   presented, not per handshake: CPU ratio to ordinary handshakes < 1.5; a request sent on such
   a connection gets no HTTP answer; ordinary handshakes for the name still get its certificate.
"""
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402
sys.path.insert(0, os.path.join(hl.SOURCE_ROOT, "tests/integration/acme"))
import fakeacme  # noqa: E402

st, il = hl.st, hl.il
PER_ADDRESS = 40  # [server] max_conn_per_address: the HTTPS listeners' cap
ACME_PER_ADDRESS = 8  # the port-80 listener's caps (server/listen.c)
ACME_ALL = 256
P99_BOUND = 0.100
RSS_BOUND = 40.0  # MB serve's RSS may grow by under one attack
CPU_RATIO = 1.5
N_HANDSHAKES = 200
HOLD_KB = 600  # RSS per connection holding an unfinished header of 396 KB
CHALLENGE_PATH = "/.well-known/acme-challenge/"


def server(challenge, http_port=None):
    acme = "[acme]\ndirectory = https://127.0.0.1:%d/dir\nchallenge = %s\n" % (
        st.free_port(), challenge)
    if http_port:
        acme += "http_listen = 127.0.0.1:%d\n" % http_port
    return il.server(reports=hl.OPEN_INTAKE + "[server]\nmax_conn_per_address = %d\n"
                     % PER_ADDRESS + acme)


def tcp(port, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, timeout=5.0):
    """What the server sends until it closes, or until `timeout` s pass without a byte."""
    s.settimeout(timeout)
    parts = []
    try:
        for chunk in iter(lambda: s.recv(65536), b""):
            parts.append(chunk)
    except OSError:
        pass
    return b"".join(parts)


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/1.") and \
        line[1].isdigit() else 0


def flood(port, net, n_addr, per_addr):
    """n_addr x per_addr connections from 127.4.<net>.x."""
    return [tcp(port, "127.4.%d.%d" % (net, 1 + a)) for a in range(n_addr)
            for _ in range(per_addr)]


def per_address(t, s, http_port):
    socks = flood(http_port, 0, 1, ACME_PER_ADDRESS + 30)
    closed = hl.closed_by_server(socks, 1.5)
    t.is_(closed, 30, "one address, %d connections to port 80: the 30 above the port-80 cap "
          "of %d are closed" % (len(socks), ACME_PER_ADDRESS))
    t.ok("reason=acme_conn_per_address limit=%d listener=acme" % ACME_PER_ADDRESS in s.log(),
         "the refusal is logged (conn.refused reason=acme_conn_per_address)")
    d, status = hl.policy_get(s.port, source="127.4.0.1")
    t.ok(d is not None and status == 200, "the same address still fetches the policy on 443")
    for x in socks:
        x.close()


def slowloris(t, s, http_port):
    pid = s.proc.pid
    rss0 = hl.vm_rss_mb(pid)
    t0 = time.monotonic()
    half_line = b"GET " + CHALLENGE_PATH.encode() + b"abc"
    socks = flood(http_port, 1, 40, ACME_PER_ADDRESS)
    trickle = []
    for i, c in enumerate(socks):
        try:
            c.sendall(half_line if i % 2 == 0 else half_line + b" HTTP/1.1\r\nHost: a\r\n")
            if i % 2:
                trickle.append(c)
        except OSError:
            pass
    stop = threading.Event()

    def trickler():
        while not stop.wait(1.0):
            for c in trickle:
                try:
                    c.send(b"X")
                except OSError:
                    pass
    th = threading.Thread(target=trickler, daemon=True)
    th.start()
    held = len(socks) - hl.closed_by_server(socks, 1.0)
    t.is_(held, ACME_ALL, "%d connections from 40 addresses: the port-80 listener holds %d"
          % (len(socks), ACME_ALL))
    t.ok("reason=acme_connections limit=%d" % ACME_ALL in s.log(),
         "the refusals are logged (conn.refused reason=acme_connections)")
    probe = hl.GetProbe(s.port).start()
    time.sleep(5.0)
    lat = probe.stop()
    rss = hl.vm_rss_mb(pid) - rss0
    t.diag("policy GETs on 443 with %d stalled port-80 connections: %s" % (held, hl.summary(lat)))
    t.ok(len(lat) >= 50 and lat.count(None) == 0,
         "every policy GET answered 200 (%d GETs, %d failed)" % (len(lat), lat.count(None)))
    p = hl.p99(lat)
    t.ok(p < P99_BOUND, "GET p99 %.1f ms < %.0f ms" % (p * 1000, P99_BOUND * 1000))
    t.ok(rss < RSS_BOUND, "RSS grew by %.1f MB (< %.0f)" % (rss, RSS_BOUND))
    deadline = t0 + 16.0
    while time.monotonic() < deadline and len(socks) - hl.closed_by_server(socks) > 0:
        time.sleep(0.5)
    stop.set()
    th.join(5)
    left = len(socks) - hl.closed_by_server(socks)
    t.diag("stalled connections open %.1f s after the first: %d" % (time.monotonic() - t0, left))
    t.is_(left, 0, "the server closed every stalled connection, trickling ones too")
    for c in socks:
        c.close()
    c = tcp(http_port, "127.4.1.1")
    c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    t.is_(status_of(read_all(c)), 404, "port 80 answers again once they are gone")
    c.close()


def oversized(t, s, http_port):
    pid = s.proc.pid
    rss0 = hl.vm_rss_mb(pid)
    long_url = b"GET " + CHALLENGE_PATH.encode() + b"A" * 512 * 1024 + \
        b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    many = b"GET " + CHALLENGE_PATH.encode() + \
        b"abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + \
        b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(200)) + b"\r\n"
    for name, req in (("a 512 KB URL", long_url), ("200 headers of 100 bytes", many)):
        c = tcp(http_port, "127.4.2.1")
        try:
            c.sendall(req)
        except OSError:
            pass
        ans = read_all(c)
        c.close()
        code = status_of(ans)
        t.ok(400 <= code < 500, "%s: a 4xx and a close (%d)" % (name, code), ans[:200])
    # 100 of each at once, from 25 addresses
    socks = []
    for i in range(200):
        c = tcp(http_port, "127.4.3.%d" % (1 + i % 25))
        try:
            c.sendall(long_url if i % 2 else many)
        except OSError:
            pass
        socks.append(c)
    codes = [status_of(read_all(c)) for c in socks]
    for c in socks:
        c.close()
    rss = hl.vm_rss_mb(pid) - rss0
    t.ok(all(400 <= x < 500 for x in codes), "200 oversized requests at once: all 4xx (%s)"
         % sorted(set(codes)))
    t.ok(rss < RSS_BOUND, "RSS grew by %.1f MB (< %.0f)" % (rss, RSS_BOUND))
    # request bodies: nothing on port 80 takes one; refused before they are read
    rss0 = hl.vm_rss_mb(pid)
    socks = flood(http_port, 6, 32, ACME_PER_ADDRESS)
    for c in socks:
        try:
            c.sendall(b"POST " + CHALLENGE_PATH.encode() + b"abc HTTP/1.1\r\nHost: a\r\n"
                      b"Content-Length: 10000000\r\n\r\n" + b"x" * 65536)
        except OSError:
            pass
    codes = [status_of(read_all(c)) for c in socks]
    for c in socks:
        c.close()
    rss = hl.vm_rss_mb(pid) - rss0
    t.is_(sorted(set(codes)), [413], "%d POSTs announcing 10 MB bodies: 413 before the body"
          % len(socks))
    t.ok(rss < RSS_BOUND, "RSS grew by %.1f MB (< %.0f; [reports] max_body x %d would be "
         "2.5 GB)" % (rss, RSS_BOUND, ACME_ALL))
    c = tcp(http_port, "127.4.6.100")
    c.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    t.is_(status_of(read_all(c)), 413, "a chunked body: 413")
    c.close()
    # pipelining: every request gets its answer, in order
    c = tcp(http_port, "127.4.4.1")
    req = b"GET " + CHALLENGE_PATH.encode() + b"unknownToken HTTP/1.1\r\nHost: a\r\n\r\n"
    c.sendall(req * 1999 + req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    ans = read_all(c, 10.0)
    c.close()
    t.is_(ans.count(b"HTTP/1.1 404 "), 2000, "2,000 pipelined GETs: 2,000 answers of 404")
    # 20 MB of pipelined requests never read back: the server stops reading, RSS stays bounded
    rss0 = hl.vm_rss_mb(pid)
    c = tcp(http_port, "127.4.4.2")
    c.settimeout(0.5)
    sent, chunk = 0, req * 1000
    t0 = time.monotonic()
    while sent < 20 * 1024 * 1024 and time.monotonic() - t0 < 8.0:
        try:
            sent += c.send(chunk)
        except socket.timeout:
            pass
        except OSError:
            break
    time.sleep(0.5)
    rss = hl.vm_rss_mb(pid) - rss0
    t.diag("pipelined bytes the server took without its answers being read: %.1f MB" %
           (sent / 1048576.0))
    t.ok(rss < RSS_BOUND, "unread pipelined answers: RSS grew by %.1f MB (< %.0f)"
         % (rss, RSS_BOUND))
    c.close()
    d, status = hl.policy_get(s.port)
    t.ok(d is not None and status == 200, "the policy is still served on 443")


def handshakes(port, alpn, sni, n):
    """n full handshakes; [(selected ALPN, error or None)]."""
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    ctx.set_alpn_protocols(alpn)
    out = []
    for _ in range(n):
        try:
            with socket.create_connection(("127.0.0.1", port), 5) as raw:
                with ctx.wrap_socket(raw, server_hostname=sni) as c:
                    out.append((c.selected_alpn_protocol(), None))
        except (OSError, ssl.SSLError) as e:
            out.append((None, str(e)))
    return out


def compare_cpu(t, s, what, acme_run):
    """serve's CPU for N ordinary handshakes, then acme_run() (N acme-tls/1 ones), then N
    ordinary again: the acme-tls/1 ones may cost at most CPU_RATIO x ordinary. The results of
    each run by kind."""
    ordinary = ["h2", "http/1.1"]
    handshakes(s.port, ordinary, il.HOST, 20)  # warm up
    cpu, res = {}, {}
    for kind in ("ordinary", "acme-tls/1", "ordinary again"):
        c0 = hl.cpu_seconds(s.proc.pid)
        res[kind] = acme_run() if kind == "acme-tls/1" else handshakes(
            s.port, ordinary, il.HOST, N_HANDSHAKES)
        cpu[kind] = hl.cpu_seconds(s.proc.pid) - c0
    t.diag("%s: serve CPU for %d handshakes: %s" % (what, N_HANDSHAKES, ", ".join(
        "%s %.3f s" % kv for kv in cpu.items())))
    base = (cpu["ordinary"] + cpu["ordinary again"]) / 2
    t.ok(cpu["acme-tls/1"] <= CPU_RATIO * base + 0.05,
         "%s: acme-tls/1 handshakes cost %.3f s CPU, ordinary %.3f s (ratio < %.1f)"
         % (what, cpu["acme-tls/1"], base, CPU_RATIO))
    return res


def tls_alpn(t):
    s = server("tls-alpn-01")
    res = compare_cpu(t, s, "no challenge pending",
                      lambda: handshakes(s.port, ["acme-tls/1"], il.HOST, N_HANDSHAKES))
    errs = [e for _, e in res["acme-tls/1"] if e is not None]
    t.ok(len(errs) == 0, "every acme-tls/1 handshake completed with the ordinary, verified "
         "certificate for %s" % il.HOST, repr(errs[:3]))
    sel = [a for a, _ in res["acme-tls/1"] if a is not None]
    t.is_(sel, [], "no handshake selected acme-tls/1 (or anything) without a pending challenge")
    t.is_(sum(1 for a, _ in res["ordinary"] if a == "h2"), N_HANDSHAKES,
          "ordinary handshakes select h2")
    # other names under acme-tls/1: unknown names are refused as without it (no default.pem)
    bad = handshakes(s.port, ["acme-tls/1"], "mta-sts.unknown.test", 5)
    t.ok(all(e is not None for _, e in bad),
         "acme-tls/1 for a name serve has no certificate for: the handshake fails as usual")
    t.is_(s.stop(), 0, "stops cleanly")


def header_hold(t, s, http_port):
    """Requests whose header never ends: h2o keeps each one until its request timeout, up to its
    maximum request length (8 KB + 100 x 4 KB); the port-80 caps bound how many. Two waves:
    the second reuses what the first left (the allocator need not give it back)."""
    pid = s.proc.pid
    hdr = b"GET " + CHALLENGE_PATH.encode() + b"abc HTTP/1.1\r\nHost: a\r\n" + \
        b"".join(b"X-%d: %s\r\n" % (i, b"v" * 4000) for i in range(99))
    rss = [hl.vm_rss_mb(pid)]
    for wave in (1, 2):
        socks = []
        for c in flood(http_port, 4 + wave, 40, ACME_PER_ADDRESS):
            try:
                c.sendall(hdr)
            except OSError:
                pass  # refused: the server closed it
            socks.append(c)
        held = len(socks) - hl.closed_by_server(socks, 1.5)
        rss.append(hl.vm_rss_mb(pid))
        for c in socks:
            c.close()
        time.sleep(0.5)
        t.is_(held, ACME_ALL, "wave %d: %d connections send %d KB of unfinished header each, "
              "the port-80 listener holds %d" % (wave, len(socks), len(hdr) // 1024, ACME_ALL))
    grew = rss[1] - rss[0]
    per = grew * 1024 / ACME_ALL
    t.diag("RSS before, at wave 1, at wave 2: %s MB; %.0f KB per held connection"
           % (", ".join("%.1f" % x for x in rss), per))
    t.ok(per < HOLD_KB, "RSS per held connection %.0f KB < %d KB (h2o's request length limit)"
         % (per, HOLD_KB))
    t.ok(grew < ACME_ALL * HOLD_KB / 1024.0, "RSS grew by %.1f MB < %d x %d KB"
         % (grew, ACME_ALL, HOLD_KB))
    t.ok(rss[2] - rss[1] < RSS_BOUND, "the second wave grew RSS by %.1f MB more (< %.0f)"
         % (rss[2] - rss[1], RSS_BOUND))


class PendingAcme(fakeacme.FakeAcme):
    """A CA whose authorization for mta-sts.a.test stays pending with a tls-alpn-01 challenge:
    serve's order thread keeps the challenge presented while it polls (up to its poll_max)."""
    TOKEN = "hostileTokenhostileTokenhostileToken0123456"

    def _answer(self, h, name, payload):
        ch = {"type": "tls-alpn-01", "url": self.base + "/chall/1", "token": self.TOKEN,
              "status": "processing"}
        if name == "authz":
            return 200, {"Retry-After": "1"}, {
                "status": "pending", "identifier": {"type": "dns", "value": il.HOST},
                "challenges": [dict(ch, status="pending")]}
        if name == "other" and h.path == "/chall/1":
            return 200, {}, ch
        return super()._answer(h, name, payload)


ACME_ID_OID = bytes.fromhex("2b0601050507011f")  # 1.3.6.1.5.5.7.1.31, RFC 8737 section 3


def validation_handshakes(port, n):
    """n acme-tls/1 handshakes for il.HOST, not verified (the validation certificate is
    self-signed); [(selected ALPN, has acmeIdentifier, error or None)]."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    out = []
    for _ in range(n):
        try:
            with socket.create_connection(("127.0.0.1", port), 5) as raw:
                with ctx.wrap_socket(raw, server_hostname=il.HOST) as c:
                    der = c.getpeercert(binary_form=True) or b""
                    out.append((c.selected_alpn_protocol(), ACME_ID_OID in der, None))
        except (OSError, ssl.SSLError) as e:
            out.append((None, False, str(e)))
    return out


def tls_alpn_pending(t):
    fa = PendingAcme(il.ca()).start()
    s = il.server(reports=hl.OPEN_INTAKE + "[acme]\ndirectory = %s\nchallenge = tls-alpn-01\n"
                  "ca_file = %s\nrenew_before = 36500d\n" % (fa.directory, fa.ca_file))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "other" not in fa.names():
        time.sleep(0.2)  # the POST to the challenge comes after it is presented
    first = validation_handshakes(s.port, 1)
    t.ok(first[0][0] == "acme-tls/1" and first[0][1],
         "with the challenge pending, acme-tls/1 for %s gets the validation certificate"
         % il.HOST, repr(first) + s.log()[-1500:])
    res = compare_cpu(t, s, "challenge pending",
                      lambda: validation_handshakes(s.port, N_HANDSHAKES))
    good = sum(1 for a, oid, e in res["acme-tls/1"] if a == "acme-tls/1" and oid and e is None)
    t.is_(good, N_HANDSHAKES, "every one selected acme-tls/1 with the validation certificate")
    t.is_(sum(1 for a, e in res["ordinary again"] if a == "h2" and e is None), N_HANDSHAKES,
          "ordinary handshakes for the same name: h2 with its verified certificate")
    answered = s.log().count("event=acme.tls_alpn.answered")
    t.is_(answered, 1, "one acme.tls_alpn.answered log line for %d validation handshakes "
          "(a flood of ClientHellos does not write a line each)" % (N_HANDSHAKES + 1))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    with socket.create_connection(("127.0.0.1", s.port), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname=il.HOST) as c:
            try:
                c.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
                           "Connection: close\r\n\r\n" % il.HOST).encode())
            except OSError:
                pass
            ans = read_all(c, 3.0)
    t.is_(ans[:5], b"", "a request on a validation connection gets no HTTP answer")
    t.is_(s.stop(), 0, "stops cleanly with the order still polling")
    fa.stop()


def main(t):
    hl.raise_nofile()
    http_port = st.free_port()
    s = server("http-01", http_port)
    t.ok("acme=127.0.0.1:%d" % http_port in s.log(), "the port-80 listener runs")
    per_address(t, s, http_port)
    slowloris(t, s, http_port)
    oversized(t, s, http_port)
    header_hold(t, s, http_port)
    t.is_(s.stop(), 0, "stops cleanly")
    tls_alpn(t)
    tls_alpn_pending(t)


if __name__ == "__main__":
    st.Tap().run(main)
