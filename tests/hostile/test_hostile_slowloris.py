#!/usr/bin/python3
"""Slowloris, against a release build: 1,000 connections from 100 loopback
addresses that stall — 300 say nothing after the TCP handshake, 400 send part of a TLS
ClientHello, 300 finish TLS and send part of an HTTP request — while a sender keeps fetching
the policy on new connections: its p99 stays under 100 ms, and the server closes the stalled
connections by itself (h2o's 10 s handshake and request timeouts)."""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
P99_BOUND = 0.100
HOLD = 7.0  # seconds the probe runs while all 1,000 are open (they are closed at 10 s)


def tcp(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def still_open(socks):
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1) != b"":
                n += 1
        except (BlockingIOError, ssl.SSLWantReadError):
            n += 1
        except OSError:
            pass
    return n


def main(t):
    hl.raise_nofile()
    s = il.server(reports=hl.OPEN_INTAKE)
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    sources = ["127.3.0.%d" % (1 + i) for i in range(100)]
    socks = []
    t0 = time.monotonic()
    for i in range(1000):
        src = sources[i % len(sources)]
        c = tcp(s.port, src)
        if i % 10 < 3:
            pass  # nothing after the TCP handshake
        elif i % 10 < 7:
            # the first bytes of a TLS record carrying a ClientHello, then silence
            c.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(16))
        else:
            c = ctx.wrap_socket(c, server_hostname=il.HOST)
            c.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nUser-Agent: slow"
                       % il.HOST).encode())
        socks.append(c)
    opened = time.monotonic() - t0
    t.diag("1,000 stalled connections opened in %.1f s" % opened)
    probe = hl.GetProbe(s.port).start()
    time.sleep(HOLD)
    lat = probe.stop()
    t.diag("policy GETs with 1,000 stalled connections: %s" % hl.summary(lat))
    alive = still_open(socks)
    t.diag("stalled connections still open after the probe: %d" % alive)
    t.ok(alive >= 900, "the stalled connections were held during the probe (%d open)" % alive)
    t.ok(len(lat) >= 100, "the probe made %d GETs" % len(lat))
    t.ok(lat.count(None) == 0, "every GET answered 200 (failed: %d)" % lat.count(None))
    p = hl.p99(lat)
    t.ok(p < P99_BOUND, "GET p99 %.1f ms < %.0f ms" % (p * 1000, P99_BOUND * 1000))
    # the server closes them itself: handshake and request timeouts (10 s)
    deadline = t0 + 16.0
    while time.monotonic() < deadline and still_open(socks) > 0:
        time.sleep(0.5)
    left = still_open(socks)
    t.diag("still open %.1f s after the first was opened: %d" % (time.monotonic() - t0, left))
    t.is_(left, 0, "the server closed every stalled connection by itself")
    for c in socks:
        c.close()
    t.is_(s.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
