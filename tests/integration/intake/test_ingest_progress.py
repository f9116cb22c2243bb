#!/usr/bin/env python3
"""`stsd reports ingest` of a Maildir and of an mbox of 2,000 messages each (1,920 reports, 40
copies of a report before them, 40 messages without a report) with stderr a pseudo-terminal:

- the progress line is drawn in place ("\\r... ESC[K"): "N of 2000 messages" with N rising,
  never more often than five times a second, the last one
  "2000 of 2000 messages: 1920 stored, 40 duplicate, 40 rejected" ended by a newline;
- with stdout on the same terminal, the screen (the bytes replayed through a small terminal
  model) holds the 2,000 outcome lines, each on a row of its own from column 0, and the final
  progress line: progress never shares a row with an outcome;
- with stderr a pipe there is no progress text at all, and the outcomes are the same.
So that each run lasts past the display's first 200 ms however fast the machine, the process
is stopped (SIGSTOP) for a second once it reads its input. The seconds of the mbox run with
and without a terminal, not stopped, are printed.
"""
import base64
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import ttylib as tl  # noqa: E402

N = 2000
STORED, DUPLICATE, REJECTED = 1920, 40, 40


def message(i, tag):
    """Message i of a mailbox: every 50th has no report, the one before it repeats the
    report of the message before that (a duplicate), the rest carry a report of their own."""
    if i % 50 == 49:
        return ("From: someone@sender.test\nTo: tlsrpt@a.test\nSubject: hello %d\n"
                "Message-ID: <%s-%d@sender.test>\n\nNo report here.\nFrom the sender\n"
                % (i, tag, i)).encode()
    rid = "%s-%d" % (tag, i - 1 if i % 50 == 48 else i)
    body = base64.encodebytes(il.report_bytes(rid, gz=False)).decode()
    return ("From: reporter@sender.test\nTo: tlsrpt@a.test\n"
            "Subject: Report Domain: a.test Submitter: sender.test Report-ID: <%s>\n"
            "TLS-Report-Domain: a.test\nTLS-Report-Submitter: sender.test\n"
            "Message-ID: <%s-%d@sender.test>\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b-%d\"\n\n"
            "--b-%d\nContent-Type: text/plain\n\nA TLS report.\n"
            "--b-%d\nContent-Type: application/tlsrpt+json\n"
            "Content-Disposition: attachment; filename=\"%s.json\"\n"
            "Content-Transfer-Encoding: base64\n\n%s--b-%d--\n"
            % (rid, tag, i, i, i, i, rid, body, i)).encode()


def make_maildir(d):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub))
    for i in range(N):  # the first half in cur/, the rest in new/ (read after cur/)
        sub = "cur" if i < N // 2 else "new"
        with open(os.path.join(d, sub, "%05d.stsdtest:2," % i), "wb") as f:
            f.write(message(i, "md"))
    return d


def make_mbox(path):
    with open(path, "wb") as f:
        for i in range(N):
            m = message(i, "mb")
            # mboxrd: a body line starting with "From " is quoted
            m = re.sub(rb"(?m)^(>*From )", rb">\1", m)
            f.write(b"From sender@sender.test Mon Dec  7 09:00:00 2026\n" + m + b"\n")
    return path


def fresh_config():
    """A configuration with an empty database (created by a first run that stores nothing)."""
    s = st.Stsd(policies={})
    empty = os.path.join(s.dir, "empty.json")
    with open(empty, "w") as f:
        f.write("{}")
    st.run([st.STSD_BIN, "reports", "-c", s.config, "ingest", empty], timeout=60)
    s.db = os.path.join(s.state_dir, "stsd.db")
    return s


def run_ingest(s, path, stderr_tty, stdout_tty=False):
    """`stsd reports ingest PATH` through ttylib.run, stopped once it reads PATH."""
    return tl.run([st.STSD_BIN, "reports", "-c", s.config, "ingest", path], path, stderr_tty,
                  stdout_tty)


def check_progress(t, what, term, secs):
    tl.check_progress(t, what, term, secs, N, (STORED, DUPLICATE, REJECTED))


def check_db(t, what, s):
    t.is_(il.db_rows(os.path.join(s.state_dir, "stsd.db"), "SELECT count(*) FROM reports"),
          [(STORED,)], "%s: %d reports in the database" % (what, STORED))


def main(t):
    work = st.tempdir("stsd-progress-")
    md = make_maildir(os.path.join(work, "Maildir"))
    mbox = make_mbox(os.path.join(work, "big.mbox"))

    counts = (STORED, DUPLICATE, REJECTED)
    # A Maildir, stdout and stderr on the same terminal: what a person sees.
    s = fresh_config()
    what = "Maildir, one terminal"
    _, term, secs = tl.check_run(t, what, run_ingest(s, md, stderr_tty=True, stdout_tty=True))
    check_progress(t, what, term, secs)
    tl.check_screen(t, what, term, counts, [b"2000 of 2000 messages: "])
    check_db(t, "Maildir", s)

    # An mbox, stderr on a terminal, stdout a pipe.
    s = fresh_config()
    what = "mbox, stderr a terminal"
    out, term, secs = tl.check_run(t, what, run_ingest(s, mbox, stderr_tty=True))
    check_progress(t, what, term, secs)
    t.ok(not re.search(rb"(stored|duplicate|rejected) (id|file)=", term),
         "%s: no outcome line on the terminal (stdout is a pipe)" % what)
    t.is_(tl.outcome_counts(out), counts, "%s: the outcome lines on stdout" % what)
    check_db(t, "mbox with a terminal", s)

    # The same mbox, stderr a pipe: no progress text at all.
    s = fresh_config()
    what = "mbox, stderr a pipe"
    out, err, secs = tl.check_run(t, what, run_ingest(s, mbox, stderr_tty=False))
    tl.check_quiet(t, what, out, err, counts)
    check_db(t, "mbox without a terminal", s)
    # the same not stopped: the cost of the counting pass and the display
    times = {}
    for tty in (True, False):
        s = fresh_config()
        argv = [st.STSD_BIN, "reports", "-c", s.config, "ingest", mbox]
        master, slave = os.openpty()
        t0 = time.monotonic()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=slave if tty else subprocess.DEVNULL, timeout=600)
        secs = time.monotonic() - t0
        os.close(slave)
        os.close(master)
        times[tty] = secs
        t.is_(p.returncode, 1, "mbox, %s, not stopped: exit 1 in %.2f s"
              % ("stderr a terminal" if tty else "stderr a pipe", secs))
    t.diag("mbox of %d messages (%d bytes): %.2f s with stderr a terminal (counting pass and "
           "progress), %.2f s without" % (N, os.path.getsize(mbox), times[True], times[False]))


if __name__ == "__main__":
    st.Tap().run(main)
