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
      4xx and a close, 100 of each at once leave RSS within RSS_BOUND; 2,000 pipelined GETs of
      unknown tokens all get 404, and up to 20 MB of pipelined requests whose answers are never
      read leave RSS within RSS_BOUND;
   d. 320 connections from 40 addresses each send an unfinished header of 396 KB (just below
      h2o's request length limit): ACME_ALL are held, each costing serve under HOLD_KB of RSS,
      so what the port-80 listener can be made to hold is bounded by ACME_ALL x HOLD_KB; it is
      given back when they close;
2. acme-tls/1 on 443 ([acme] challenge = tls-alpn-01) with no challenge pending: N handshakes
   offering only acme-tls/1 cost serve no more CPU than N ordinary ones (ratio < 1.5), none of
   them selects acme-tls/1, and each gets the ordinary certificate for the name.
"""
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

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


def tls_alpn(t):
    s = server("tls-alpn-01")
    pid = s.proc.pid
    handshakes(s.port, ["h2", "http/1.1"], il.HOST, 20)  # warm up
    cpu = {}
    res = {}
    for kind, alpn in (("ordinary", ["h2", "http/1.1"]), ("acme-tls/1", ["acme-tls/1"]),
                       ("ordinary again", ["h2", "http/1.1"])):
        c0 = hl.cpu_seconds(pid)
        res[kind] = handshakes(s.port, alpn, il.HOST, N_HANDSHAKES)
        cpu[kind] = hl.cpu_seconds(pid) - c0
    t.diag("serve CPU for %d handshakes: %s" % (N_HANDSHAKES, ", ".join(
        "%s %.3f s" % kv for kv in cpu.items())))
    base = (cpu["ordinary"] + cpu["ordinary again"]) / 2
    t.ok(cpu["acme-tls/1"] <= CPU_RATIO * base + 0.05,
         "acme-tls/1 handshakes cost %.3f s CPU, ordinary %.3f s (ratio < %.1f)"
         % (cpu["acme-tls/1"], base, CPU_RATIO))
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
    maximum request length (8 KB + 100 x 4 KB); the port-80 caps bound how many."""
    pid = s.proc.pid
    rss0 = hl.vm_rss_mb(pid)
    hdr = b"GET " + CHALLENGE_PATH.encode() + b"abc HTTP/1.1\r\nHost: a\r\n" + \
        b"".join(b"X-%d: %s\r\n" % (i, b"v" * 4000) for i in range(99))
    socks = []
    for c in flood(http_port, 5, 40, ACME_PER_ADDRESS):
        try:
            c.sendall(hdr)
        except OSError:
            pass  # refused: the server closed it
        socks.append(c)
    held = len(socks) - hl.closed_by_server(socks, 1.5)
    grew = hl.vm_rss_mb(pid) - rss0
    per = grew * 1024 / max(held, 1)
    t.diag("%d connections sending %d KB of unfinished header each: %d held, RSS +%.1f MB, "
           "%.0f KB per held connection" % (len(socks), len(hdr) // 1024, held, grew, per))
    t.is_(held, ACME_ALL, "the port-80 listener holds %d of them" % ACME_ALL)
    t.ok(per < HOLD_KB, "RSS per held connection %.0f KB < %d KB (h2o's request length limit)"
         % (per, HOLD_KB))
    t.ok(grew < ACME_ALL * HOLD_KB / 1024.0, "RSS grew by %.1f MB < %d x %d KB"
         % (grew, ACME_ALL, HOLD_KB))
    for c in socks:
        c.close()
    time.sleep(1.0)
    back = hl.vm_rss_mb(pid) - rss0
    t.ok(back < RSS_BOUND, "RSS %.1f MB above the start once they close (< %.0f)"
         % (back, RSS_BOUND))


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


if __name__ == "__main__":
    st.Tap().run(main)
