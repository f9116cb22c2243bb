#!/usr/bin/env python3
"""test_acme_privileges.py - ACME as the README tells an operator to run serve: started as
root with `[server] user = nobody`, the state directory (and with it cert_dir) belonging to
nobody, the http-01 listener on a privileged port (below 1024, bound before the drop). The
certificate is issued while serve runs as nobody: the process's uids are nobody's, the
account key and the certificate file are nobody's and 0600. A cert_dir left to root (not
writable by nobody) fails the order with status=local and a detail that names the file, and
the domain keeps being served as before (here: not at all, it had no certificate)."""

import os
import pwd
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
from acmelib import pl, st  # noqa: E402

USER = "nobody"


def privileged_port():
    """A port below 1024 that is free on 127.0.0.1 now."""
    for p in range(991, 700, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port below 1024")


def sanitizer_files_for(s, uid, gid):
    """The sanitizers of an ASan build read LSAN_OPTIONS' suppressions file at exit, when serve
    runs as the user already: a copy in the serve's own directory (0644), so that a checkout
    the user cannot read (e.g. under a 0700 mktemp -d) does not turn the leak check into an
    abort."""
    opts = os.environ.get("LSAN_OPTIONS", "")
    parts = []
    for kv in opts.split(":"):
        if kv.startswith("suppressions=") and os.path.exists(kv.split("=", 1)[1]):
            copy = os.path.join(s.dir, "lsan.supp")
            with open(kv.split("=", 1)[1], "rb") as src, open(copy, "wb") as dst:
                dst.write(src.read())
            os.chmod(copy, 0o644)
            os.chown(copy, uid, gid)
            kv = "suppressions=" + copy
        parts.append(kv)
    if opts:
        s.env = dict(s.env or {}, LSAN_OPTIONS=":".join(parts))


def uids(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


def main(t):
    pw = pwd.getpwnam(USER)
    p80 = privileged_port()
    pb = pl.Pebble(http_port=p80).start()
    # [acme] ca_file is read by the order threads, after the drop: the user must be able to
    os.chmod(pb.dir, 0o755)
    os.chmod(os.path.dirname(pb.ca_file), 0o755)
    acme = pb.acme_config("http-01", "127.0.0.1:%d" % p80)
    s = al.serve(["priv.test"], acme, extra="[server]\nuser = %s\n" % USER, start=False)
    os.chmod(s.dir, 0o755)
    for d in (s.state_dir, s.cert_dir):
        os.chown(d, pw.pw_uid, pw.pw_gid)
    sanitizer_files_for(s, pw.pw_uid, pw.pw_gid)
    al.start_serve(s)
    t.is_(uids(s.proc.pid), [pw.pw_uid] * 4, "serve runs as %s (all four uids)" % USER)
    got = pl.wait_served_by(pb, s.port, "mta-sts.priv.test", 30)
    t.ok(got is not None, "the certificate is issued with the http-01 listener on port %d" % p80,
         s.log()[-2000:])
    for f in (al.cert_file(s, "priv.test"), os.path.join(s.state_dir, "acme", "account.key")):
        st_ = os.stat(f) if os.path.exists(f) else None
        t.is_(st_ and (st_.st_uid, st_.st_mode & 0o777), (pw.pw_uid, 0o600),
              "%s: %s's, 0600" % (os.path.basename(f), USER))
    r = al.curl_policy(s, "priv.test", pb.root)
    t.is_(r.status, 200, "curl --cacert <pebble root> gets the policy")
    t.is_(s.stop(), 0, "SIGTERM: exit 0")

    # cert_dir not writable by the user: the failure says why
    s2 = al.serve(["ro.test"], acme, extra="[server]\nuser = %s\n" % USER, start=False)
    os.chmod(s2.dir, 0o755)
    os.chown(s2.state_dir, pw.pw_uid, pw.pw_gid)  # cert_dir stays root's, 0755
    sanitizer_files_for(s2, pw.pw_uid, pw.pw_gid)
    al.start_serve(s2)
    f = al.wait_event(s2, "acme.order.fail", timeout=30)
    t.ok(f is not None, "cert_dir not writable: the order fails", s2.log()[-2000:])
    if f:
        e = f[0]
        t.is_((e.get("domain"), e.get("status")), ("ro.test", "local"),
              "it is a local failure of ro.test")
        t.ok(s2.cert_dir in e.get("detail", "") or "mta-sts.ro.test" in e.get("detail", ""),
             "the detail names the file or directory: %s" % e.get("detail"))
    t.ok(s2.proc.poll() is None, "serve keeps running")
    t.is_(s2.stop(), 0, "SIGTERM: exit 0")


st.Tap().run(main)
