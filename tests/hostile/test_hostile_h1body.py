#!/usr/bin/python3
"""Unfinished HTTP/1.1 request bodies from many connections, against a release build.

libh2o reads a whole HTTP/1 body into the connection's input buffer before any handler runs,
on any path. server/h1guard.c counts those buffers (each beyond its first 64 KiB) in all and
closes a connection that grows past the budget: [reports] parse_memory, at least four of h2o's
largest requests (4 x 2 x max_body).

Here max_body = 1 MiB and parse_memory = 16 MiB (budget 16 MiB). From ADDRS loopback addresses,
PER_ADDR connections each send the head of a POST with Content-Length max_body and then 90 %
of the body, and stall: half to the policy path, half to the report path; every other one
after a policy GET on the same kept-alive connection. Without the guard
each holds a 1 MiB buffer (some 115 MB in all); with it the server's RSS stays under

    RSS at start + budget + connections x 160 KiB (the uncounted 64 KiB, TLS and h2o state)
                 + 16 MiB (allocator slack),

policy GETs on new connections keep answering 200, the server closes the connections past the
budget, and a report of normal size is stored afterwards."""
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
MiB = 1024 * 1024
MAX_BODY = 1 * MiB
PARSE_MEMORY = 16 * MiB
ADDRS = 4
PER_ADDR = 32
SENT = MAX_BODY * 9 // 10


def get_kept_alive(s):
    """A policy GET on the kept-alive connection s, its answer read to the end. The status."""
    s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.a.test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        if not more:
            raise OSError("closed")
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(body) < length:
        more = s.recv(65536)
        if not more:
            raise OSError("closed")
        body += more
    return int(head.split()[1])


def stalled_post(ctx, port, source, path, get_first):
    """A TLS connection from `source` with a POST head (Content-Length max_body) and 90 % of
    the body sent; after a policy GET on the same connection if get_first. Returns the
    socket, or None when the server closed it on the way."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
        s = ctx.wrap_socket(raw, server_hostname=il.HOST)
        if get_first and get_kept_alive(s) != 200:
            return None
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, il.HOST, MAX_BODY)).encode())
        chunk = b"x" * 65536
        left = SENT
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        return s
    except OSError:
        return None


def main(t):
    hl.raise_nofile()
    s = il.server(reports=hl.OPEN_INTAKE + "max_body = %d\nparse_memory = %d\n"
                  "[server]\nmax_conn_per_address = %d\n" % (MAX_BODY, PARSE_MEMORY, 2 * PER_ADDR))
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    time.sleep(0.5)
    rss0 = hl.vm_rss_mb(s.proc.pid)
    conns = ADDRS * PER_ADDR
    bound = rss0 + (PARSE_MEMORY + conns * 160 * 1024 + 16 * MiB) / MiB
    probe = hl.GetProbe(s.port).start()
    socks = []
    t0 = time.monotonic()
    for k in range(PER_ADDR):
        for a in range(ADDRS):
            path = "/.well-known/mta-sts.txt" if (k + a) % 2 == 0 else "/tlsrpt"
            socks.append(stalled_post(ctx, s.port, "127.0.0.%d" % (10 + a), path, k % 2 == 1))
    sent = time.monotonic() - t0
    time.sleep(1.0)
    rss = hl.vm_rss_mb(s.proc.pid)
    hwm = hl.vm_hwm_mb(s.proc.pid)
    lat = probe.stop()
    open_socks = [x for x in socks if x is not None]
    closed = len(socks) - len(open_socks) + hl.closed_by_server(open_socks)
    t.diag("%d connections from %d addresses, %d bytes each, sent in %.1f s; RSS at start "
           "%.1f MB, stalled %.1f MB, peak %.1f MB; bound %.1f MB; closed by the server %d"
           % (conns, ADDRS, SENT, sent, rss0, rss, hwm, bound, closed))
    t.diag("policy GETs meanwhile: " + hl.summary(lat))
    t.ok(sent < 8, "all bodies sent within the request timeout (%.1f s)" % sent)
    t.ok(hwm < bound, "peak RSS %.1f MB < %.1f MB (start + parse_memory + %d x 160 KiB + "
         "16 MiB)" % (hwm, bound, conns))
    t.ok(closed >= conns - (PARSE_MEMORY // (MAX_BODY - 64 * 1024)) - 1,
         "the connections past the budget are closed (%d of %d)" % (closed, conns))
    t.ok(s.wait_log("event=conn.h1_input", 2), "the closing is logged (conn.h1_input)")
    t.ok(len(lat) >= 10 and all(x is not None for x in lat),
         "policy GETs answer 200 throughout (%d, errors %s)" % (len(lat), probe.errors[:3]))
    hl.close_report_stop(t, s, open_socks, "h1-after")


if __name__ == "__main__":
    st.Tap().run(main)
