#!/usr/bin/python3
"""Connection floods, against a release build:

1. one address opens 3 x max_conn_per_address connections: the ones above the cap are closed
   by the server, and a sender from another loopback address (127.0.0.2) still gets its policy;
2. many addresses (127.1.x.y) open more connections than max_connections = 200: the server
   holds exactly 200, stops accepting (its CPU over 5 s at the cap stays under 0.3 s: no
   spinning), a policy GET waits in the backlog meanwhile, and is answered once the flood
   closes;
3. the file limit is lowered under the server (prlimit) below its max_connections: accept()
   fails with EMFILE, and the server pauses instead of spinning on the readable backlog.
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
PER_ADDRESS = 40
MAX_CONNS = 200
CPU_BOUND = 0.3  # seconds of server CPU in 5 s at the cap


def get_from(port, source, timeout=5.0):
    """A policy GET on a new TLS connection from `source`; (seconds, status) or (None, err)."""
    return hl.policy_get(port, timeout=timeout, source=source)


def open_conns(port, sources, per_source):
    socks = []
    for src in sources:
        for _ in range(per_source):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            socks.append(s)
    return socks


def server_sockets(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def one_address(t):
    s = il.server(reports=hl.OPEN_INTAKE + "[server]\nmax_conn_per_address = %d\n" % PER_ADDRESS)
    socks = open_conns(s.port, ["127.0.0.1"], 3 * PER_ADDRESS)
    closed = hl.closed_by_server(socks, 1.5)
    t.is_(closed, 2 * PER_ADDRESS,
          "one address, %d connections: the %d above max_conn_per_address are closed"
          % (3 * PER_ADDRESS, 2 * PER_ADDRESS))
    lat = [get_from(s.port, "127.0.0.2") for _ in range(20)]
    ok = [d for d, status in lat if d is not None and status == 200]
    t.diag("GETs from 127.0.0.2 during the flood: %s" % hl.summary([d for d, _ in lat]))
    t.is_(len(ok), 20, "GETs from another address answer 200 during the flood")
    t.ok("event=conn.refused" in s.log() and "reason=max_conn_per_address" in s.log(),
         "the refusal is logged (conn.refused)")
    for x in socks:
        x.close()
    s.stop()


def many_addresses(t):
    s = il.server(reports=hl.OPEN_INTAKE + "[server]\nmax_connections = %d\n" % MAX_CONNS)
    pid = s.proc.pid
    t.ok("event=serve.max_connections max_connections=%d from=config" % MAX_CONNS in s.log(),
         "the cap is logged at start")
    base = server_sockets(pid)
    sources = ["127.1.%d.%d" % (i // 200, 1 + i % 200) for i in range(150)]
    socks = open_conns(s.port, sources, 2)  # 300 connections, 2 per address
    time.sleep(1.0)
    held = server_sockets(pid) - base
    t.diag("connections opened: %d, held by the server: %d" % (len(socks), held))
    t.is_(held, MAX_CONNS, "the server holds exactly max_connections; the rest wait in the backlog")
    c0 = hl.cpu_seconds(pid)
    time.sleep(5.0)
    cpu = hl.cpu_seconds(pid) - c0
    t.diag("server CPU over 5 s at the cap: %.3f s" % cpu)
    t.ok(cpu < CPU_BOUND, "no spinning at the cap: %.3f s CPU in 5 s (< %.1f)" % (cpu, CPU_BOUND))
    # a GET now waits in the backlog: not answered while the flood holds every slot
    res = {}
    th = threading.Thread(target=lambda: res.update(r=get_from(s.port, "127.0.0.2", 10.0)))
    th.start()
    time.sleep(1.0)
    t.ok(th.is_alive(), "at the cap a new connection is not served (accepting is paused)")
    t_close = time.monotonic()
    for x in socks:
        x.close()
    th.join(10)
    d, status = res.get("r", (None, "no answer"))
    t.ok(d is not None and status == 200,
         "the waiting GET is answered once the flood closes (%.0f ms after the close)"
         % ((time.monotonic() - t_close) * 1000))
    t.ok(time.monotonic() - t_close < 2.0, "service resumes within 2 s of the close")
    lat = [get_from(s.port, "127.0.0.2") for _ in range(10)]
    t.is_(sum(1 for d, st_ in lat if st_ == 200), 10, "and keeps answering")
    t.ok("event=conn.paused reason=max_connections" in s.log(), "the pause is logged (conn.paused)")
    s.stop()


def out_of_descriptors(t):
    s = il.server(reports=hl.OPEN_INTAKE + "[server]\nmax_connections = 100000\n")
    pid = s.proc.pid
    used = len(os.listdir("/proc/%d/fd" % pid))
    limit = used + 20
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:" % limit], check=True)
    sources = ["127.2.0.%d" % (1 + i) for i in range(40)]
    socks = open_conns(s.port, sources, 2)  # 80 > 20 free descriptors
    time.sleep(1.0)
    c0 = hl.cpu_seconds(pid)
    time.sleep(3.0)
    cpu = hl.cpu_seconds(pid) - c0
    t.diag("file limit %d, %d connections: server CPU over 3 s: %.3f s" % (limit, len(socks), cpu))
    t.ok(cpu < CPU_BOUND, "no spinning on EMFILE: %.3f s CPU in 3 s (< %.1f)" % (cpu, CPU_BOUND))
    t.ok("event=conn.paused" in s.log() and "Too many open files" in s.log(),
         "the EMFILE pause is logged")
    for x in socks:
        x.close()
    time.sleep(0.5)
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=4096:"], check=True)
    d, status = get_from(s.port, "127.0.0.2", 5.0)
    t.ok(d is not None and status == 200, "after the flood closes, GETs are answered again")
    s.stop()


def main(t):
    hl.raise_nofile()
    one_address(t)
    many_addresses(t)
    out_of_descriptors(t)


if __name__ == "__main__":
    st.Tap().run(main)
