#!/usr/bin/python3
"""Unfinished HTTP/2 request bodies from many connections, against a release build.

server/h2guard.c caps the body bytes h2o keeps for the streams in progress of one HTTP/2
connection (2 x max_body + 64 KiB, 32 streams), and charges them to the count h1guard.c keeps
for HTTP/1: one budget, [reports] parse_memory (at least four of h2o's largest requests), for
every unfinished request body of every connection. A connection whose bodies grow past it is
closed (conn.h2_input).

Here max_body = 1 MiB and parse_memory = 16 MiB (budget 16 MiB). From ADDRS loopback
addresses, PER_ADDR connections each open two POST streams (one to the report path, one to
the policy path) and send 90 % of max_body on each, close to the per-connection cap, and stall.
Without the shared count each connection holds its bodies (some 230 MB of body bytes in all);
with it the server's RSS stays under

    RSS at start + 2 x parse_memory (h2o's body buffers round their capacity up to a power of
                   two: 0.9 MiB kept takes a 1 MiB buffer, and more while it grows)
                 + connections x 256 KiB (TLS, h2o's connection state, socket buffers)
                 + 16 MiB (allocator slack),

policy GETs on new connections keep answering 200, the connections past the budget are
closed, stalled HTTP/1 bodies on top of the HTTP/2 ones are closed too (the same budget), and
once all are closed the count is back to 0: a second wave of as many
connections as the budget holds is kept open whole (a leaked charge would close them)."""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402
import test_hostile_h1body as h1  # noqa: E402  (its stalled HTTP/1 POST and its sizes)

st, il = hl.st, hl.il
# the same server and flood shape as hostile_h1body: 1 MiB max_body, 16 MiB parse_memory,
# 4 addresses x 32 connections, 90 % of max_body on each body (here: on each of two streams)
MiB, MAX_BODY, PARSE_MEMORY = h1.MiB, h1.MAX_BODY, h1.PARSE_MEMORY
ADDRS, PER_ADDR, SENT = h1.ADDRS, h1.PER_ADDR, h1.SENT
PATHS = ("/tlsrpt", "/.well-known/mta-sts.txt")


def stalled_h2(port, source):
    """A TLS connection from `source` speaking HTTP/2 (python3-h2) with two POST streams, SENT
    bytes sent on each and none ended. Returns the socket, or None when the server closed
    the connection on the way."""
    import h2.config
    import h2.connection
    import h2.events
    from test_hostile_h2body import h2_fill
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    ctx.set_alpn_protocols(["h2"])
    try:
        raw = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
        s = ctx.wrap_socket(raw, server_hostname=il.HOST)
        h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        h.initiate_connection()
        ids = (1, 3)
        for sid, path in zip(ids, PATHS):
            h.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                 (":authority", il.HOST), (":path", path),
                                 ("content-type", "application/tlsrpt+json"),
                                 ("content-length", str(MAX_BODY))])
        sent = dict.fromkeys(ids, 0)
        s.settimeout(5)
        while True:
            h2_fill(h, sent, SENT)
            s.sendall(h.data_to_send())
            if all(v == SENT for v in sent.values()):
                return s
            data = s.recv(65536)  # window updates (h2o opens the connection's window)
            if not data:
                return None
            for ev in h.receive_data(data):
                if isinstance(ev, (h2.events.ConnectionTerminated, h2.events.StreamReset)):
                    return None
    except OSError:
        return None


def wave(port, n):
    """n stalled connections from the ADDRS addresses in turn. (sockets or None, seconds
    taken)."""
    t0 = time.monotonic()
    socks = [stalled_h2(port, "127.0.0.%d" % (10 + k % ADDRS)) for k in range(n)]
    return socks, time.monotonic() - t0


def closed_count(socks):
    open_socks = [x for x in socks if x is not None]
    return len(socks) - len(open_socks) + hl.closed_by_server(open_socks), open_socks


def main(t):
    hl.raise_nofile()
    s = il.server(reports=hl.OPEN_INTAKE + "max_body = %d\nparse_memory = %d\n"
                  "[server]\nmax_conn_per_address = %d\n" % (MAX_BODY, PARSE_MEMORY, 2 * PER_ADDR))
    time.sleep(0.5)
    rss0 = hl.vm_rss_mb(s.proc.pid)
    conns = ADDRS * PER_ADDR
    bound = rss0 + (2 * PARSE_MEMORY + conns * 256 * 1024 + 16 * MiB) / MiB
    per_conn = 2 * SENT
    fit = PARSE_MEMORY // per_conn  # connections whose bodies the budget holds whole
    probe = hl.GetProbe(s.port).start()
    socks, sent = wave(s.port, conns)
    time.sleep(1.0)
    rss = hl.vm_rss_mb(s.proc.pid)
    hwm = hl.vm_hwm_mb(s.proc.pid)
    lat = probe.stop()
    closed, open_socks = closed_count(socks)
    t.diag("%d HTTP/2 connections from %d addresses, 2 x %d body bytes each, sent in %.1f s; "
           "RSS at start %.1f MB, stalled %.1f MB, peak %.1f MB; bound %.1f MB; closed by the "
           "server %d" % (conns, ADDRS, SENT, sent, rss0, rss, hwm, bound, closed))
    t.diag("policy GETs meanwhile: " + hl.summary(lat))
    t.ok(sent < 8, "all bodies sent within the request timeout (%.1f s)" % sent)
    t.ok(hwm < bound, "peak RSS %.1f MB < %.1f MB (start + 2 x parse_memory + %d x 256 KiB + "
         "16 MiB)" % (hwm, bound, conns))
    t.ok(closed >= conns - fit - 1,
         "the connections past the budget are closed (%d of %d; the budget holds %d)"
         % (closed, conns, fit))
    t.ok(closed < conns, "the connections within the budget are kept (%d of %d open)"
         % (conns - closed, conns))
    t.ok(s.wait_log("event=conn.h2_input", 2), "the closing is logged (conn.h2_input)")
    t.ok(len(lat) >= 10 and all(x is not None for x in lat),
         "policy GETs answer 200 throughout (%d, errors %s)" % (len(lat), probe.errors[:3]))
    # the budget is shared: with the HTTP/2 bodies holding most of it, stalled HTTP/1 bodies
    # (which h1guard alone would let in: 3 x 0.9 MiB is well under 16 MiB) are closed
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    h1socks = [h1.stalled_post(ctx, s.port, "127.0.0.%d" % (20 + k), "/tlsrpt", False)
               for k in range(3)]
    h1closed, h1open = closed_count(h1socks)
    t.ok(h1closed >= 1, "HTTP/1 bodies on top of the HTTP/2 ones: %d of 3 closed" % h1closed)
    t.ok(s.wait_log("event=conn.h1_input", 2), "... logged as conn.h1_input")
    for x in h1open:
        x.close()
    for x in open_socks:
        x.close()
    time.sleep(1.0)
    # all closed: the count is empty again, so as many connections as it holds stay open
    socks2, _ = wave(s.port, fit - 1)
    time.sleep(0.5)
    closed2, open2 = closed_count(socks2)
    t.is_(closed2, 0, "after all closed, %d new connections with the same bodies are all kept "
          "(the charges were released)" % len(socks2))
    hl.close_report_stop(t, s, open2, "h2total-after")


if __name__ == "__main__":
    st.Tap().run(main)
