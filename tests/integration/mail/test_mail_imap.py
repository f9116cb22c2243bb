#!/usr/bin/env python3
"""The IMAP pull against Debian's dovecot on loopback (IMAPS, a test CA, a test user):

- 50 messages (45 distinct reports, gzip and JSON, + 5 unusable) -> `reports fetch` stores 45,
  moves 45 to the done folder and 5 to the rejected one, INBOX empty, exit 1;
- a second pass finds nothing; the same 45 appended again are 45 duplicates, all moved to done;
- `kill -9` during a pass of 400 messages after its first commit, then a rerun: every message in
  done, each report stored once;
- a wrong password: exit 69, the server's refusal on stderr, nothing moved, nothing stored; an
  untrusted server certificate (no ca_file): exit 69 with the TLS error;
- `stsd serve` with [mail] imap and interval = 10s stores and moves messages appended while it
  runs, logs mail.imap.pass and counts it in /metrics; an unreachable server is logged
  (mail.imap.fail) and serve keeps running; SIGTERM stops it promptly.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_lib as il  # noqa: E402
from imap_lib import st  # noqa: E402


def is_(t, got, want, what, diag=None):
    """t.is_ with something to show on failure besides got and want."""
    return t.ok(got == want, what, "got:  %r\nwant: %r%s" % (got, want,
                                                             "\n%r" % (diag,) if diag else ""))


def db_counts(state_dir):
    """(rows, distinct report-ids) in the reports table."""
    con = sqlite3.connect(os.path.join(state_dir, "stsd.db"), timeout=30)
    try:
        return con.execute("SELECT count(*), count(DISTINCT organization_name || '/' || "
                           "report_id) FROM reports").fetchone()
    finally:
        con.close()


def summary(out):
    m = re.search(r"^fetched (.*)$", out, re.M)
    return dict(kv.split("=") for kv in m.group(1).split()) if m else {}


def main_pass(t, dv):
    reps = il.distinct_reports(45, "main")
    msgs = [il.report_message(r, i % 3 != 0, i) for i, r in enumerate(reps)]
    unusable = il.unusable_messages()
    is_(t, len(unusable), 5, "five unusable messages")
    # the unusable ones spread among the others
    for k, m in enumerate(unusable):
        msgs.insert(k * 10 + 3, m)
    dv.append(msgs)
    is_(t, dv.counts(), {"INBOX": 50, "TLSRPT.done": None, "TLSRPT.rejected": None},
          "50 messages in INBOX, no TLSRPT folders yet")
    wd = st.tempdir("stsd-imap-main-")
    cfg = il.write_config(wd, dv)
    logins = dv.logtext().count("Login: user=<%s>" % il.USER)
    r = il.fetch(cfg)
    is_(t, r.returncode, 1, "fetch: exit 1 (some messages rejected)", r)
    is_(t, dv.logtext().count("Login: user=<%s>" % il.USER) - logins, 1,
        "one login (one connection) for the whole pass")
    is_(t, len(re.findall(r"^stored id=\d+ .* file=INBOX message=\d+( |$)", r.out, re.M)), 45,
          "45 'stored' lines")
    is_(t, len(re.findall(r"^rejected file=INBOX message=\d+: ", r.out, re.M)), 5,
          "5 'rejected' lines")
    is_(t, summary(r.out), {"messages": "50", "stored": "45", "duplicates": "0",
                           "conflicts": "0", "rejected": "5", "deferred": "0", "moved_done": "45",
                           "moved_rejected": "5"}, "summary line")
    ids = il.stored_reports(cfg)
    is_(t, sorted(ids), sorted(x["report-id"] for x in reps),
          "reports list --json: exactly the 45 distinct reports")
    is_(t, dv.counts(), {"INBOX": 0, "TLSRPT.done": 45, "TLSRPT.rejected": 5},
          "INBOX empty, 45 in TLSRPT.done, 5 in TLSRPT.rejected")

    r = il.fetch(cfg)
    is_(t, (r.returncode, summary(r.out).get("messages")), (0, "0"),
          "second pass: exit 0, no message", r)
    is_(t, len(il.stored_reports(cfg)), 45, "second pass: still 45 reports")

    dv.append(msgs[:0] + [il.report_message(x, i % 3 != 0, i) for i, x in enumerate(reps)])
    r = il.fetch(cfg)
    s = summary(r.out)
    is_(t, (r.returncode, s.get("messages"), s.get("stored"), s.get("duplicates"),
           s.get("moved_done")), (0, "45", "0", "45", "45"),
          "the same 45 again: 45 duplicates, all moved to done", r)
    is_(t, len(re.findall(r"^duplicate id=\d+ ", r.out, re.M)), 45, "45 'duplicate' lines")
    is_(t, len(il.stored_reports(cfg)), 45, "report count unchanged")
    is_(t, dv.counts(), {"INBOX": 0, "TLSRPT.done": 90, "TLSRPT.rejected": 5},
          "INBOX empty, 90 in done")
    return cfg


def plain_loopback(t, dv):
    """imap:// to a loopback server is spoken in plain (no STARTTLS asked for, no CA needed)."""
    reps = il.distinct_reports(2, "plain")
    dv.append([il.report_message(x, False, i) for i, x in enumerate(reps)])
    wd = st.tempdir("stsd-imap-plain-")
    cfg = il.write_config(wd, dv, ca=False)
    with open(cfg) as f:
        text = f.read().replace("imap = imaps://%s@127.0.0.1:%d/" % (il.USER, dv.port),
                                "imap = imap://%s@127.0.0.1:%d/INBOX" % (il.USER, dv.plain_port))
    with open(cfg, "w") as f:
        f.write(text)
    r = il.fetch(cfg)
    s = summary(r.out)
    is_(t, (r.returncode, s.get("stored"), s.get("moved_done")), (0, "2", "2"),
        "imap:// to 127.0.0.1: plain, 2 stored and moved", r)


def user_with_at(t, dv):
    """A login with '@' is written percent-encoded in the URL and sent decoded."""
    wd = st.tempdir("stsd-imap-at-")
    cfg = il.write_config(wd, dv)
    with open(cfg) as f:
        text = f.read().replace("imaps://%s@" % il.USER, "imaps://tlsrpt%40example.com@")
    with open(cfg, "w") as f:
        f.write(text)
    logins = dv.logtext().count("Login: user=<%s>" % il.USER_AT)
    r = il.fetch(cfg)
    is_(t, (r.returncode, summary(r.out).get("messages")), (0, "0"),
        "user tlsrpt%40example.com: logged in (its INBOX is empty)", r)
    is_(t, dv.logtext().count("Login: user=<%s>" % il.USER_AT) - logins, 1,
        "dovecot saw the login tlsrpt@example.com")


def refused(t, dv):
    reps = il.distinct_reports(3, "refused")
    dv.append([il.report_message(x, True, i) for i, x in enumerate(reps)])
    before = dv.counts()
    wd = st.tempdir("stsd-imap-pw-")
    cfg = il.write_config(wd, dv, password="not-the-password")
    r = il.fetch(cfg)
    is_(t, r.returncode, 69, "wrong password: exit 69", r)
    t.ok(re.search(r"^stsd: imap: login failed for tlsrpt at 127\.0\.0\.1:%d: .*"
                   r"AUTHENTICATIONFAILED" % dv.port, r.err, re.M),
         "wrong password: 'login failed for tlsrpt at 127.0.0.1:PORT' with the server's answer",
         r.err)
    is_(t, dv.counts(), before, "wrong password: nothing moved")
    is_(t, il.stored_reports(cfg), [], "wrong password: nothing stored")

    wd = st.tempdir("stsd-imap-tls-")
    cfg = il.write_config(wd, dv, ca=False)
    r = il.fetch(cfg)
    is_(t, r.returncode, 69, "untrusted certificate: exit 69", r)
    t.ok(re.search(r"^stsd: imap: TLS with 127\.0\.0\.1:%d failed: .*certificate" % dv.port,
                   r.err, re.M), "untrusted certificate: a TLS error on stderr", r.err)
    is_(t, dv.counts(), before, "untrusted certificate: nothing moved")
    is_(t, il.stored_reports(cfg), [], "untrusted certificate: nothing stored")

    os.unlink(os.path.join(wd, "imap-password"))
    r = il.fetch(cfg)
    t.ok(r.returncode == 78 and "password file" in r.err, "password_file missing: exit 78", r)
    # what was appended here goes through a trusted pass, so that INBOX is empty again
    r = il.fetch(il.write_config(st.tempdir("stsd-imap-drain-"), dv))
    is_(t, (r.returncode, summary(r.out).get("stored")), (0, "3"), "then a good pass stores 3", r)


def db_locked(t, dv):
    """The database cannot be written (another writer holds it past the busy timeout): exit
    75, nothing moved; once it can, a rerun stores and moves everything."""
    n = 60
    reps = il.distinct_reports(n, "locked")
    wd = st.tempdir("stsd-imap-locked-")
    cfg = il.write_config(wd, dv)
    dv.append([il.report_message(x, True, i) for i, x in enumerate(reps)])
    before = dv.counts()
    db = os.path.join(wd, "state", "stsd.db")
    logins = dv.logtext().count("Login: user=<%s>" % il.USER)
    p = subprocess.Popen([st.STSD_BIN, "reports", "-c", cfg, "fetch"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    # once fetch has logged in (it opened and migrated the database before), take the
    # database's write lock and keep it: the first commit (after 50 messages) waits out the
    # busy timeout and fails
    deadline = time.monotonic() + 30
    while (time.monotonic() < deadline and p.poll() is None and
           dv.logtext().count("Login: user=<%s>" % il.USER) == logins):
        time.sleep(0.002)
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    con.execute("BEGIN IMMEDIATE")
    out, err = p.communicate(timeout=180)
    con.execute("ROLLBACK")
    con.close()
    err = err.decode(errors="replace")
    is_(t, p.returncode, 75, "database locked: exit 75", err)
    t.ok("database" in err and "the last 50 messages stay in the folder" in err,
         "database locked: the error says so", err)
    is_(t, dv.counts(), before, "database locked: nothing moved")
    r = il.fetch(cfg)
    is_(t, (r.returncode, summary(r.out).get("stored"), summary(r.out).get("moved_done")),
        (0, str(n), str(n)), "then a rerun stores and moves the %d" % n, r)


def oversized(t, dv):
    """A message past 50 MiB is rejected without being kept whole; the connection it cut is
    made again for the message after it."""
    big = (b"From: big@reporter.test\r\nSubject: big\r\n\r\n" +
           (b"x" * 998 + b"\r\n") * (51 * 1024 * 1024 // 1000))
    rep = il.distinct_reports(1, "after-big")[0]
    dv.append([big, il.report_message(rep, True, 0)])
    before = dv.counts()
    cfg = il.write_config(st.tempdir("stsd-imap-big-"), dv)
    r = il.fetch(cfg)
    is_(t, r.returncode, 1, "a message over 50 MiB: exit 1", r)
    t.ok(re.search(r"^rejected file=INBOX message=\d+: the message is larger than 52428800 "
                   r"bytes$", r.out, re.M), "it is rejected as too large", r.out)
    t.ok(re.search(r"^stored id=\d+ .*report-id=imap-after-big-00000 ", r.out, re.M),
         "the message after it is stored (a new connection)", r.out)
    is_(t, dv.counts(), {"INBOX": 0, "TLSRPT.done": before["TLSRPT.done"] + 1,
                         "TLSRPT.rejected": before["TLSRPT.rejected"] + 1},
        "one moved to rejected, one to done")


def deferred(t, dv):
    """require_dkim = on and a DKIM key that cannot be fetched now (a resolver that refuses):
    the message is deferred — left in the folder, nothing stored, exit 75 — while an unsigned
    one beside it is rejected and moved. With require_dkim off the next pass stores the
    deferred one (temperror) and moves it."""
    google = open(os.path.join(st.TEST_DATA, "tlsrpt", "email", "mox-google-2022.eml"),
                  "rb").read()
    rep = il.distinct_reports(1, "deferred-unsigned")[0]
    dv.append([google, il.report_message(rep, True, 0)])
    before = dv.counts()
    wd = st.tempdir("stsd-imap-deferred-")
    cfg = il.write_config(wd, dv, extra="require_dkim = on\n")
    with open(cfg) as f:
        text = f.read().replace("interval = off", "interval = off\nresolver = %s"
                                % st.refusing_resolver())
    with open(cfg, "w") as f:
        f.write(text)
    r = il.fetch(cfg)
    is_(t, r.returncode, 75, "require_dkim, Google's key not fetchable: exit 75", r)
    t.ok(re.search(r"^deferred file=INBOX message=\d+: DKIM temperror d=google\.com: ", r.out,
                   re.M), "the Google message is deferred", r.out)
    t.ok(re.search(r"^rejected file=INBOX message=\d+: DKIM none: ", r.out, re.M),
         "the unsigned one is rejected", r.out)
    is_(t, dv.counts(), {"INBOX": 1, "TLSRPT.done": before["TLSRPT.done"],
                         "TLSRPT.rejected": before["TLSRPT.rejected"] + 1},
        "the deferred message stays in INBOX, the rejected one is moved")
    is_(t, il.stored_reports(cfg), [], "nothing stored")
    with open(cfg) as f:
        text = f.read().replace("require_dkim = on", "require_dkim = off")
    with open(cfg, "w") as f:
        f.write(text)
    r = il.fetch(cfg)
    is_(t, (r.returncode, dv.counts()["INBOX"]), (0, 0),
        "require_dkim off: the next pass stores it (dkim temperror) and moves it", r)
    t.ok("dkim=temperror d=google.com" in r.out, "stored with dkim=temperror", r.out)


def crash(t, dv):
    n = 400
    reps = il.distinct_reports(n, "crash")
    dv.append([il.report_message(x, i % 2 == 0, i) for i, x in enumerate(reps)])
    is_(t, dv.count("INBOX"), n, "%d messages in INBOX" % n)
    done_before = dv.count("TLSRPT.done")
    wd = st.tempdir("stsd-imap-crash-")
    cfg = il.write_config(wd, dv)
    state = os.path.join(wd, "state")
    p = subprocess.Popen([st.STSD_BIN, "reports", "-c", cfg, "fetch"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    rows = 0
    while time.monotonic() < deadline and p.poll() is None:
        try:
            rows = db_counts(state)[0]
        except sqlite3.Error:
            rows = 0
        if rows > 0:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.ok(rows > 0, "kill -9 after the first commit (%d reports stored)" % rows)
    left = dv.count("INBOX")
    # killed after a commit: before or after that batch's move
    t.ok(0 < left <= n and rows < n,
         "the pass was cut short: %d of %d messages still in INBOX, %d reports stored"
         % (left, n, rows))
    r = il.fetch(cfg)
    s = summary(r.out)
    is_(t, r.returncode, 0, "rerun: exit 0", r)
    is_(t, int(s.get("stored", -1)) + int(s.get("duplicates", -1)), left,
          "rerun: every message left is stored or a duplicate")
    is_(t, dv.count("INBOX"), 0, "rerun: INBOX empty")
    is_(t, dv.count("TLSRPT.done") - done_before, n, "rerun: all %d messages in done" % n)
    is_(t, db_counts(state), (n, n), "%d reports stored, none twice" % n)


def without_move(t):
    """A server that announces neither MOVE nor UIDPLUS: UID COPY, UID STORE \\Deleted and
    EXPUNGE move the messages all the same."""
    dv = il.Dovecot(capability="IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE CHILDREN")
    c = dv.client()
    typ, data = c.capability()
    c.logout()
    caps = data[0].decode().upper().split()
    t.ok("MOVE" not in caps and "UIDPLUS" not in caps, "dovecot announces no MOVE, no UIDPLUS",
         caps)
    reps = il.distinct_reports(8, "nomove")
    dv.append([il.report_message(x, i % 2 == 0, i) for i, x in enumerate(reps)] +
              il.unusable_messages()[:2])
    cfg = il.write_config(st.tempdir("stsd-imap-nomove-"), dv)
    r = il.fetch(cfg)
    s = summary(r.out)
    is_(t, (r.returncode, s.get("stored"), s.get("moved_done"), s.get("moved_rejected")),
        (1, "8", "8", "2"), "without MOVE: 8 stored and moved to done, 2 to rejected", r)
    is_(t, dv.counts(), {"INBOX": 0, "TLSRPT.done": 8, "TLSRPT.rejected": 2},
        "without MOVE: INBOX empty (expunged), 8 in done, 2 in rejected")
    dv.stop()


def serve(t, dv):
    leaf = dv.ca.issue("mta-sts.a.test")
    wd = st.tempdir("stsd-imap-serve-")
    pw = os.path.join(wd, "imap-password")
    with open(pw, "w") as f:
        f.write(il.PASSWORD + "\r\n")  # CR LF: stripped as well
    os.chmod(pw, 0o600)
    s = st.Stsd(policies={"a.test": "version: STSv1\nmode: testing\nmx: mx.a.test\n"
                          "max_age: 86400\n"}, certs={"mta-sts.a.test": leaf}, admin=True,
                directory=wd,
                extra_config="[mail]\nimap = %s\npassword_file = %s\nca_file = %s\n"
                             "interval = 10s\n" % (dv.url("INBOX"), pw, dv.ca.cert))
    s.start()
    t.ok(s.wait_log("event=mail.imap.pass messages=0", timeout=30),
         "serve: the first pass at start (nothing to do)", s.log()[-3000:])
    reps = il.distinct_reports(6, "serve")
    dv.append([il.report_message(x, True, i) for i, x in enumerate(reps)] +
              il.unusable_messages()[:1])
    t0 = time.monotonic()
    got = s.wait_log("event=mail.imap.pass messages=7 stored=6 duplicates=0 conflicts=0 "
                     "rejected=1 deferred=0 moved_done=6 moved_rejected=1", timeout=25)
    took = time.monotonic() - t0
    t.ok(got and took < 15, "serve: 7 messages appended are stored and moved within the "
         "interval (%.1f s)" % took, s.log()[-3000:])
    t.ok(re.search(r"event=mail\.imap\.pass .* seconds=\d+\.\d+", s.log()),
         "serve: the pass line says how long it took")
    t.ok("event=mail.imap.rejected" in s.log(), "serve: the rejected message is logged")
    is_(t, dv.count("INBOX"), 0, "serve: INBOX empty")
    rows = db_counts(os.path.join(wd, "state"))
    is_(t, rows, (6, 6), "serve: 6 reports stored")
    with open(os.path.join(s.state_dir, "admin.token")) as f:
        token = f.read().strip()
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % s.admin_port,
                                 headers={"Authorization": "Bearer " + token})
    m = urllib.request.urlopen(req, timeout=10).read().decode()
    ok = re.search(r'^stsd_mail_imap_passes_total\{result="ok"\} (\d+)$', m, re.M)
    t.ok(ok and int(ok.group(1)) >= 2, "metrics: passes ok >= 2", m[-1500:])
    t.ok(re.search(r'^stsd_mail_imap_passes_total\{result="fail"\} 0$', m, re.M),
         "metrics: no failed pass")
    t.ok(re.search(r'^stsd_mail_imap_messages_total\{outcome="done"\} 6$', m, re.M) and
         re.search(r'^stsd_mail_imap_messages_total\{outcome="rejected"\} 1$', m, re.M),
         "metrics: 6 messages to done, 1 to rejected")
    # SIGTERM in the middle of a pass: it stops at once, and what the pass committed but did
    # not move is a duplicate for the next one
    n = 400
    more = il.distinct_reports(n, "serve-stop")
    dv.append([il.report_message(x, True, i) for i, x in enumerate(more)])
    state = os.path.join(wd, "state")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and db_counts(state)[0] <= 6:
        time.sleep(0.02)
    t0 = time.monotonic()
    rc = s.stop()
    took = time.monotonic() - t0
    left = dv.count("INBOX")
    t.ok(rc == 0 and took < 5 and left > 0,
         "serve: SIGTERM during a pass stops it promptly (%.1f s, exit %r, %d messages left)"
         % (took, rc, left))
    t.ok("event=mail.imap.fail" not in s.log(), "serve: a cancelled pass is not a failure")
    r = il.fetch(s.config)
    is_(t, r.returncode, 0, "after the stop, reports fetch takes the rest", r)
    is_(t, (dv.count("INBOX"), db_counts(state)), (0, (6 + n, 6 + n)),
        "INBOX empty, every report stored once")

    # an unreachable server: logged, retried, serve keeps running
    port = st.free_port()
    s2 = st.Stsd(policies={"a.test": "version: STSv1\nmode: testing\nmx: mx.a.test\n"
                           "max_age: 86400\n"}, certs={"mta-sts.a.test": leaf},
                 extra_config="[mail]\nimap = imaps://tlsrpt@127.0.0.1:%d/\npassword_file = %s\n"
                              "interval = 10s\n" % (port, pw))
    s2.start()
    t.ok(s2.wait_log("event=mail.imap.fail error=\"cannot reach 127.0.0.1:%d" % port,
                     timeout=30), "serve: an unreachable server is logged (mail.imap.fail)",
         s2.log()[-2000:])
    time.sleep(1)
    t.ok(s2.proc.poll() is None, "serve: still running after the failed pass")
    is_(t, s2.stop(), 0, "serve: stops cleanly")

    # a password file that cannot be read is a configuration error at start
    s3 = st.Stsd(policies={"a.test": "version: STSv1\nmode: testing\nmx: mx.a.test\n"
                           "max_age: 86400\n"}, certs={"mta-sts.a.test": leaf},
                 extra_config="[mail]\nimap = %s\npassword_file = %s-missing\n"
                              % (dv.url(), pw))
    s3.start(wait=False)
    try:
        rc = s3.proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    t.ok(rc == 78 and "cannot read the password file" in s3.log(),
         "serve: an unreadable password_file stops it at start (exit %r)" % rc, s3.log()[-1500:])


def main(t):
    dv = il.Dovecot()
    main_pass(t, dv)
    plain_loopback(t, dv)
    user_with_at(t, dv)
    refused(t, dv)
    oversized(t, dv)
    deferred(t, dv)
    db_locked(t, dv)
    crash(t, dv)
    without_move(t)
    serve(t, dv)
    log = dv.logtext()
    t.ok("Fatal" not in log and "Panic" not in log, "dovecot logged no fatal error",
         log[-2000:])


if __name__ == "__main__":
    st.Tap().run(main)
