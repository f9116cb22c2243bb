#!/usr/bin/python3
"""Privileges: started as root with `[server] user = nobody`, serve binds, reads its
keys (root-owned, mode 0600) and the admin token, then runs as nobody for good: the Uid and Gid
lines of /proc/<pid>/status (all four fields, every thread) are nobody's, no capability is
left, policy GETs and report POSTs work, the database it creates belongs to nobody, a SIGHUP
reload serves a changed policy, a certificate that nobody cannot read any more is reported
with what to fix while the last good one is served, and one made readable is taken.
Started as root without `user`, serve logs one warning; not root but `user` naming someone
else, it refuses to start."""

import os
import shutil
import pwd
import grp
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
USER = "nobody"


def fetch_policy(port, domain="a.test"):
    """(status, body) of one policy GET on a new TLS connection, certificate verified."""
    return hl.policy_fetch(port, domain)[1:]


def proc_ids(pid):
    """{tid: (Uid fields, Gid fields, Groups, CapEff)} for every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        f = {}
        with open("/proc/%d/task/%s/status" % (pid, tid)) as fh:
            for line in fh:
                k, _, v = line.partition(":")
                f[k] = v.split()
        out[tid] = (f.get("Uid"), f.get("Gid"), f.get("Groups"), f.get("CapEff"))
    return out


def main(t):
    if os.geteuid() != 0:
        t.ok(False, "this test starts stsd as root (run the suite as root)")
        return
    pw = pwd.getpwnam(USER)
    uid, gid = pw.pw_uid, pw.pw_gid
    groups = sorted({gid} | {g.gr_gid for g in grp.getgrall() if USER in g.gr_mem})

    # The operator's part (README): the state directory belongs to the user; the policies
    # and certificates stay root's (0600 keys), readable at start only.
    s = il.server(reports=hl.OPEN_INTAKE + "[server]\nuser = %s\n" % USER, start=False)
    os.chmod(s.dir, 0o755)
    os.chown(s.state_dir, uid, gid)
    pem = os.path.join(s.cert_dir, il.HOST + ".pem")
    t.is_((os.stat(pem).st_uid, os.stat(pem).st_mode & 0o777), (0, 0o600),
          "the key file is root's, mode 0600")
    s.start()
    pid = s.proc.pid

    ids = proc_ids(pid)
    want = ([str(uid)] * 4, [str(gid)] * 4)
    t.is_(ids[str(pid)][:2], want, "/proc/<pid>/status Uid and Gid: %s's in all four fields"
          % USER)
    t.is_(sorted(int(g) for g in ids[str(pid)][2]), groups, "supplementary groups: the user's")
    t.is_([tid for tid, v in ids.items() if v[:2] != want], [],
          "every one of the %d threads runs as %s" % (len(ids), USER))
    t.is_({v[3][0] for v in ids.values()}, {"0000000000000000"}, "no capability left (CapEff)")
    t.ok(s.wait_log("event=serve.privileges user=%s uid=%d gid=%d" % (USER, uid, gid), 1),
         "the drop is logged")
    t.ok("event=serve.root" not in s.log(), "no running-as-root warning with a user")

    status, body = fetch_policy(s.port)
    t.is_(status, 200, "policy GET after the drop: 200")
    c = il.Client(s.port)
    status, h, b = c.post(il.report_bytes("priv-1"))
    c.close()
    t.is_(status, 201, "report POST after the drop: 201")
    t.is_(il.db_rows(s.db, "SELECT report_id FROM reports"), [("priv-1",)], "and it is stored")
    t.is_(os.stat(s.db).st_uid, uid, "the database serve created belongs to %s" % USER)

    # A reload as nobody: a changed policy is served.
    s.write_policy("a.test", il.POLICY.replace("enforce", "testing"))
    s.hup()
    t.ok(s.wait_log("why=sighup", 10), "SIGHUP reload ran", s.log()[-2000:])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "mode: testing" not in fetch_policy(s.port)[1]:
        time.sleep(0.05)
    status, body = fetch_policy(s.port)
    t.ok(status == 200 and "mode: testing" in body, "the reloaded policy is served", body)

    # The key changed on disk but nobody cannot read it (root's, 0600): said, last good kept.
    os.utime(pem, (time.time() + 5, time.time() + 5))
    s.hup()
    needle = "Permission denied (serve runs as user %s since it started" % USER
    t.ok(s.wait_log(needle, 10), "the log says the certificate is unreadable and what to fix",
         [l for l in s.log().splitlines() if "cert." in l][-3:])
    line = [l for l in s.log().splitlines() if needle in l][-1:]
    t.ok(line and "serving=last-good" in line[0] and "chmod 0640" in line[0],
         "the last good certificate is kept, the fix named", line)
    status, body = fetch_policy(s.port)
    t.is_(status, 200, "and served (TLS verified)")

    # Made readable to the user's group: the next reload takes it without complaint.
    n_invalid = s.log().count("event=cert.invalid")
    os.chown(pem, 0, gid)
    os.chmod(pem, 0o640)
    s.hup()
    t.ok(s.wait_log("why=sighup", 10, count=3), "third SIGHUP reload ran")
    time.sleep(0.3)
    t.is_(s.log().count("event=cert.invalid"), n_invalid, "a readable key reloads cleanly")
    t.ok("event=cert.key_mode" not in s.log(), "a 0640 key of the user's group is no warning")
    status, body = fetch_policy(s.port)
    t.is_(status, 200, "policy GET after it")
    t.is_(s.stop(), 0, "serve stops cleanly as %s" % USER)

    # As root without `user`: one warning at start.
    r = il.server(reports=hl.OPEN_INTAKE)
    t.ok(r.wait_log("event=serve.root", 5), "root without [server] user: a warning")
    time.sleep(0.3)
    t.is_(r.log().count("event=serve.root"), 1, "logged once")
    t.is_(proc_ids(r.proc.pid)[str(r.proc.pid)][0], ["0"] * 4, "and it stays root, as told")
    t.is_(r.stop(), 0, "stopped")

    # Not root, `user` naming someone else: refused with the reason.
    os.chmod(s.dir, 0o755)
    other = il.server(reports="[server]\nuser = daemon\n", start=False)
    os.chmod(other.dir, 0o755)
    os.chmod(other.config, 0o644)
    os.chown(other.state_dir, uid, gid)
    # The build tree may sit in a directory only root can enter (a clone in a mktemp -d): the
    # unprivileged run uses a copy of the binary that the user can reach.
    bindir = st.tempdir("stsd-bin-")
    os.chmod(bindir, 0o755)
    binary = os.path.join(bindir, "stsd")
    shutil.copy2(st.STSD_BIN, binary)
    res = st.subprocess.run([binary, "serve", "-c", other.config], user=uid, group=gid,
                            extra_groups=[], capture_output=True, timeout=20)
    err = res.stderr.decode("utf-8", "replace")
    t.is_(res.returncode, 78, "not root with user = daemon: exit 78 (configuration)")
    t.ok("cannot switch" in err and "event=serve.privileges" in err, "saying why", err[-600:])


st.Tap().run(main)
