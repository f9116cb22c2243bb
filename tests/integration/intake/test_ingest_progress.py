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
import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

N = 2000
STORED, DUPLICATE, REJECTED = 1920, 40, 40
PROGRESS = re.compile(rb"(\d+) of (\d+) messages: (\d+) stored, (\d+) duplicate, "
                      rb"(\d+) rejected")


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


class Stall:
    """Stop process p for `seconds` once it reads a file under `path` (the run has begun and
    its display is attached), so that the run lasts past the display's first 200 ms however
    fast the machine."""

    def __init__(self, p, path, seconds=1.0):
        self.p, self.path, self.seconds = p, path, seconds
        self.stalled = False
        self.th = threading.Thread(target=self._watch)
        self.th.start()

    def _reading(self):
        fds = "/proc/%d/fd" % self.p.pid
        try:
            for n in os.listdir(fds):
                if os.readlink(os.path.join(fds, n)).startswith(self.path):
                    return True
        except OSError:
            pass
        return False

    def _watch(self):
        while self.p.poll() is None:
            if self._reading():
                os.kill(self.p.pid, signal.SIGSTOP)
                time.sleep(self.seconds)
                os.kill(self.p.pid, signal.SIGCONT)
                self.stalled = True
                return
            time.sleep(0.0005)

    def join(self):
        self.th.join()
        return self.stalled


def run_ingest(s, path, stderr_tty, stdout_tty=False):
    """Run `stsd reports ingest PATH`; stderr (and stdout if asked) on a pseudo-terminal of
    120 columns; stopped for a second once it reads PATH. Returns (returncode, stdout bytes,
    terminal bytes or stderr bytes, seconds, whether it was stopped)."""
    argv = [st.STSD_BIN, "reports", "-c", s.config, "ingest", path]
    if not stderr_tty:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        stall = Stall(p, path)
        out, err = p.communicate(timeout=600)
        return p.returncode, out, err, time.monotonic() - t0, stall.join()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    got = []

    def reader():
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: every copy of the slave side is closed
                break
            if not b:
                break
            got.append(b)
    th = threading.Thread(target=reader)
    th.start()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=slave if stdout_tty else subprocess.PIPE, stderr=slave)
    os.close(slave)
    stall = Stall(p, path)
    out = b"" if stdout_tty else p.stdout.read()
    rc = p.wait(600)
    secs = time.monotonic() - t0
    th.join(30)
    os.close(master)
    return rc, out, b"".join(got), secs, stall.join()


def screen(data):
    """The rows a terminal shows after data: CR back to column 0, LF a new row, ESC [ K
    erases to the end of the row, any other byte written over what stood there."""
    rows, row, col = [], bytearray(), 0
    i = 0
    while i < len(data):
        c = data[i]
        if data.startswith(b"\x1b[K", i):
            del row[col:]
            i += 3
            continue
        if c == 0x0d:
            col = 0
        elif c == 0x0a:
            rows.append(bytes(row))
            row, col = bytearray(), 0
        else:
            if col < len(row):
                row[col] = c
            else:
                row.append(c)
            col += 1
        i += 1
    if row:
        rows.append(bytes(row))
    return rows


def outcome_counts(text):
    return tuple(len(re.findall(rb"(?m)^" + w, text))
                 for w in (b"stored id=", b"duplicate id=", b"rejected file="))


def check_progress(t, what, term, secs):
    """The progress drawn on term: rising N of 2000, rate-limited, the true final line."""
    draws = [tuple(int(x) for x in m.groups()) for m in PROGRESS.finditer(term)]
    t.ok(len(draws) >= 2 and draws[0][0] < N, "%s: progress drawn %d times in %.1f s" % (what, len(draws), secs),
         term[-500:])
    if not draws:
        return
    t.ok(all(d[1] == N for d in draws), "%s: every line says 'of %d messages'" % (what, N),
         sorted(set(d[1] for d in draws)))
    dones = [d[0] for d in draws]
    t.ok(all(a <= b for a, b in zip(dones, dones[1:])) and dones[0] < dones[-1],
         "%s: N rises (%s ... %s)" % (what, dones[:3], dones[-3:]))
    t.ok(len(draws) <= secs * 5 + 2,
         "%s: at most five redraws a second (%d in %.1f s)" % (what, len(draws), secs))
    t.ok(all(d[2] <= STORED and d[3] <= DUPLICATE and d[4] <= REJECTED for d in draws),
         "%s: the counts on the way never pass the final ones" % what)
    final = b"%d of %d messages: %d stored, %d duplicate, %d rejected" % (
        N, N, STORED, DUPLICATE, REJECTED)
    end = term.find(b"\r" + final + b"\x1b[K\r\n")  # the terminal turns "\n" into "\r\n"
    t.ok(draws[-1] == (N, N, STORED, DUPLICATE, REJECTED) and end >= 0,
         "%s: the last progress line is '%s' and a newline" % (what, final.decode()),
         term[-300:])
    t.ok(term.count(final) == 1 and not PROGRESS.search(term, end + len(final) + 1),
         "%s: the final line is drawn once, nothing of the progress after it" % what)


def check_db(t, what, s):
    t.is_(il.db_rows(os.path.join(s.state_dir, "stsd.db"), "SELECT count(*) FROM reports"),
          [(STORED,)], "%s: %d reports in the database" % (what, STORED))


def main(t):
    work = st.tempdir("stsd-progress-")
    md = make_maildir(os.path.join(work, "Maildir"))
    mbox = make_mbox(os.path.join(work, "big.mbox"))

    # A Maildir, stdout and stderr on the same terminal: what a person sees.
    s = fresh_config()
    rc, _, term, secs, stalled = run_ingest(s, md, stderr_tty=True, stdout_tty=True)
    t.ok(stalled, "Maildir run stopped for a second while it read")
    t.is_(rc, 1, "Maildir on a terminal: exit 1 (some messages rejected)")
    check_progress(t, "Maildir, one terminal", term, secs)
    rows = [r for r in screen(term) if r]
    outcomes = [r for r in rows if re.match(rb"(stored|duplicate|rejected) ", r)]
    t.is_(len(outcomes), N, "Maildir, one terminal: %d outcome rows on the screen" % N)
    # besides the outcomes: the final progress line and the log line of the run's end
    strays = [r for r in rows if r not in outcomes and not r.startswith(b"level=info ")]
    t.ok(len(strays) == 1 and PROGRESS.fullmatch(strays[0]) and strays[0].startswith(b"2000 of"),
         "Maildir, one terminal: the only other row is the final progress line", strays[:5])
    t.ok(not any(PROGRESS.search(r) for r in outcomes),
         "Maildir, one terminal: no row mixes progress and an outcome")
    t.is_(outcome_counts(b"\n".join(outcomes)), (STORED, DUPLICATE, REJECTED),
          "Maildir, one terminal: 1920 stored, 40 duplicate, 40 rejected lines")
    check_db(t, "Maildir", s)

    # An mbox, stderr on a terminal, stdout a pipe.
    s = fresh_config()
    rc, out, term, secs, stalled = run_ingest(s, mbox, stderr_tty=True)
    t.ok(stalled, "mbox run stopped for a second while it read")
    t.is_(rc, 1, "mbox, stderr a terminal: exit 1")
    check_progress(t, "mbox, stderr a terminal", term, secs)
    t.ok(not re.search(rb"(stored|duplicate|rejected) (id|file)=", term),
         "mbox, stderr a terminal: no outcome line on the terminal (stdout is a pipe)")
    t.is_(outcome_counts(out), (STORED, DUPLICATE, REJECTED),
          "mbox, stderr a terminal: the outcome lines on stdout")
    check_db(t, "mbox with a terminal", s)

    # The same mbox, stderr a pipe: no progress text at all.
    s = fresh_config()
    rc, out, err, secs, stalled = run_ingest(s, mbox, stderr_tty=False)
    t.ok(stalled, "mbox run (stderr a pipe) stopped for a second while it read")
    t.is_(rc, 1, "mbox, stderr a pipe: exit 1")
    t.ok(b"messages" not in err and b"\r" not in err and b"\x1b" not in err,
         "mbox, stderr a pipe: no progress text on stderr", err[-500:])
    t.is_(outcome_counts(out), (STORED, DUPLICATE, REJECTED),
          "mbox, stderr a pipe: the same outcome lines")
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
