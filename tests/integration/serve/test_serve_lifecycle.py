#!/usr/bin/env python3
"""stsd serve start-up and stop: creates its directories, clear errors for a port in use and
a bad certificate, a warning for a key file that is not 0600, max_conn_per_address (and its
rate_exempt ranges), graceful SIGTERM/SIGINT with idle keep-alive connections open, and a
second SIGTERM that ends a drain at once."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

POL = "version: STSv1\nmode: testing\nmx: mail.a.test\nmax_age: 86400\n"


def is_open(sock, wait=0.5):
    """True if the server keeps the connection open (nothing to read, no EOF) for `wait` s."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) != b""
    except socket.timeout:
        return True
    except OSError:
        return False


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    st.Cleanup.add(s.close)
    return s


def exit_status(proc, secs):
    """The exit status of proc once it ends within secs, else None."""
    try:
        return proc.wait(secs)
    except subprocess.TimeoutExpired:
        return None


def main(t):
    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    leaf = ca.issue("mta-sts.a.test")

    # 1. directories are created; start and stop with SIGINT
    state = os.path.join(d, "new", "state")
    conf = os.path.join(d, "new.conf")
    port = st.free_port()
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:%d\nstate_dir = %s\nthreads = 1\n"
                "[admin]\nlisten = off\n[checks]\ninterval = off\n" % (port, state))
    logf = os.path.join(d, "new.log")
    with open(logf, "wb") as lf:
        p = subprocess.Popen([st.STSD_BIN, "serve", "-c", conf], stderr=lf,
                             start_new_session=True)
    st.Cleanup.add(lambda: p.poll() is None and p.kill())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and p.poll() is None and \
            "event=serve.ready" not in open(logf).read():
        time.sleep(0.05)
    ok = st.wait_port("127.0.0.1", port, proc=p)
    t.ok(ok, "starts with a state_dir that does not exist yet")
    for sub in ("", "policies", "certs"):
        t.ok(os.path.isdir(os.path.join(state, sub)), "created %s/" % os.path.join(state, sub))
    t.ok(os.path.exists(os.path.join(state, "stsd.db")), "created stsd.db")
    p.send_signal(signal.SIGINT)
    rc = exit_status(p, 10)
    t.is_(rc, 0, "SIGINT: graceful stop, exit 0")

    # 2. port in use: by another stsd, and by any other program
    a = st.Stsd(policies={"a.test": POL}, certs={"mta-sts.a.test": leaf}).start()
    b = st.Stsd(listen=["127.0.0.1:%d" % a.port])
    b.start(wait=False)
    rc = exit_status(b.proc, 15)
    t.is_(rc, 78, "a second stsd on the same port exits 78 (configuration error)")
    t.ok("cannot listen on 127.0.0.1:%d" % a.port in b.log() and
         "address already in use" in b.log(), "... saying where and why", b.log())
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    st.Cleanup.add(ls.close)
    c = st.Stsd(listen=["127.0.0.1:%d" % ls.getsockname()[1]])
    c.start(wait=False)
    rc = exit_status(c.proc, 15)
    t.is_(rc, 78, "a port held by another program: exit 78")
    t.is_(a.stop(), 0, "the first server is unaffected and stops with 0")

    # 3. a broken certificate is reported, the good ones are served; key mode warning
    s = st.Stsd(policies={"a.test": POL, "b.test": POL}, certs={"mta-sts.a.test": leaf},
                extra_config="[server]\nmax_conn_per_address = 2\n"
                             "[reports]\nrate_exempt = 10.9.9.9/32\n")
    with open(os.path.join(s.cert_dir, "mta-sts.b.test.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    os.chmod(os.path.join(s.cert_dir, "mta-sts.b.test.pem"), 0o600)
    loose = ca.issue("mta-sts.c.test")
    st.TestCA.install(loose, s.cert_dir, "mta-sts.c.test", split=True)
    os.chmod(os.path.join(s.cert_dir, "mta-sts.c.test.key"), 0o644)
    s.start()
    log = s.log()
    bad = [l for l in log.splitlines() if "event=cert.invalid" in l]
    # (logged at each reload that reads it, the internal one after the warm-up included)
    t.ok(len(bad) >= 1 and all("mta-sts.b.test.pem" in b and "reason=" in b and "fix=" in b
                               for b in bad),
         "an unreadable certificate is logged with file, reason and fix", log)
    warn = [l for l in log.splitlines() if "event=cert.key_mode" in l]
    t.ok(len(warn) == 1 and "mta-sts.c.test.key" in warn[0] and "mode=0644" in warn[0],
         "a key file readable by others is warned about", log)
    r = st.curl(s.url("a.test"), resolve="mta-sts.a.test:%d:127.0.0.1" % s.port,
                cacert=ca.cert)
    t.is_(r.status, 200, "the good certificate is served")

    # 4. max_conn_per_address = 2 (127.0.0.1 is not exempt here)
    c1, c2 = connect(s.port), connect(s.port)
    time.sleep(0.2)
    c3 = connect(s.port)
    t.ok(not is_open(c3, 2.0), "a third connection from one address is closed at once")
    t.ok(is_open(c1) and is_open(c2), "the first two stay open")
    t.ok(s.wait_log("event=conn.refused"), "conn.refused is logged", s.log())
    c1.close()
    time.sleep(0.3)
    r = st.curl(s.url("a.test"), resolve="mta-sts.a.test:%d:127.0.0.1" % s.port,
                cacert=ca.cert)
    t.is_(r.status, 200, "after one closes, a new connection is served")
    c2.close()
    c3.close()

    # 5. graceful stop with idle keep-alive connections (HTTP/1.1 and HTTP/2) open
    t.is_(s.stop(), 0, "stop: exit 0")
    e = st.Stsd(policies={"a.test": POL}, certs={"mta-sts.a.test": leaf},
                extra_config="[server]\nmax_conn_per_address = 2\n")  # 127/8 exempt
    e.start()
    socks = [connect(e.port) for _ in range(5)]
    time.sleep(0.2)
    t.ok(all(is_open(x, 0.2) for x in socks), "rate_exempt addresses have no connection cap")
    for x in socks:
        x.close()
    import ssl
    ctx = ssl.create_default_context(cafile=ca.cert)
    ctx.set_alpn_protocols(["http/1.1"])
    k1 = ctx.wrap_socket(connect(e.port), server_hostname="mta-sts.a.test")
    k1.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.a.test\r\n\r\n")
    time.sleep(0.3)
    first = k1.recv(65536)
    t.ok(first.startswith(b"HTTP/1.1 200"), "a keep-alive HTTP/1.1 request is answered")
    ctx2 = ssl.create_default_context(cafile=ca.cert)
    ctx2.set_alpn_protocols(["h2"])
    k2 = ctx2.wrap_socket(connect(e.port), server_hostname="mta-sts.a.test")
    t.is_(k2.selected_alpn_protocol(), "h2", "an idle HTTP/2 connection is open")
    t0 = time.monotonic()
    rc = e.stop(timeout=15)
    took = time.monotonic() - t0
    t.is_(rc, 0, "SIGTERM with idle connections open: exit 0")
    t.ok(took < 2.0, "... within 2 s (took %.2f s)" % took)

    # 6. a drain that cannot finish (a TLS handshake left half-way) ends with a second SIGTERM
    f = st.Stsd(policies={"a.test": POL}, certs={"mta-sts.a.test": leaf})
    f.start()
    h = connect(f.port)
    h.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, never finished
    time.sleep(0.3)
    f.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    t.ok(f.proc.poll() is None, "first SIGTERM: still draining the open connection")
    t.ok(not st.wait_port("127.0.0.1", f.port, timeout=0.5),
         "... and no longer accepting new connections")
    t0 = time.monotonic()
    f.proc.send_signal(signal.SIGTERM)
    rc = exit_status(f.proc, 5)
    t.is_(rc, 1, "second SIGTERM: exits at once with status 1")
    t.ok(time.monotonic() - t0 < 1.0, "... within 1 s")
    t.ok("event=serve.forced_stop" in f.log(), "forced stop is logged", f.log())
    h.close()


if __name__ == "__main__":
    st.Tap().run(main)
