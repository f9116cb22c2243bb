"""What stsd draws on a terminal (python3 stdlib only): run a command with stderr (and stdout)
on a pseudo-terminal, stop it for a second once it has begun so that a run lasts past the
progress display's first 200 ms on any machine, replay the bytes through a small terminal
model, and check the progress lines of `reports ingest` / `reports fetch`."""

import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time

PROGRESS = re.compile(rb"(\d+) of (\d+) messages: (\d+) stored, (\d+) duplicate, "
                      rb"(\d+) rejected")


class Stall:
    """Stop process p for `seconds` once one of its open files' names starts with `path` (a
    file it reads, or "socket:": the run has begun and its display is attached), so that the
    run lasts past the display's first 200 ms however fast the machine."""

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


def run(argv, path, stderr_tty, stdout_tty=False):
    """Run argv; stderr (and stdout if asked) on a pseudo-terminal of 120 columns, else pipes;
    stopped for a second once it opens path (see Stall). Returns (returncode, stdout bytes,
    terminal bytes or stderr bytes, seconds, whether it was stopped)."""
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


def check_progress(t, what, term, secs, n, counts):
    """The progress drawn on term: rising "N of n messages", at most five redraws a second,
    the last one with the true counts (stored, duplicate, rejected) and a newline."""
    N = n
    STORED, DUPLICATE, REJECTED = counts
    draws = [tuple(int(x) for x in m.groups()) for m in PROGRESS.finditer(term)]
    t.ok(len(draws) >= 2 and draws[0][0] < N,
         "%s: progress drawn %d times in %.1f s" % (what, len(draws), secs), term[-500:])
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


def check_run(t, what, result, rc=1):
    """A result of run(): stopped once begun, exit rc. Returns (stdout, terminal or stderr
    bytes, seconds)."""
    code, out, term, secs, stalled = result
    t.ok(stalled, "%s: stopped for a second once begun" % what)
    t.is_(code, rc, "%s: exit %d" % (what, rc))
    return out, term, secs


def check_screen(t, what, term, counts, others):
    """stdout and stderr on one terminal: the outcome rows (stored, duplicate, rejected) as
    counted, each on a row of its own; the other rows (log lines aside) start with the
    prefixes of others, in order (the final progress line, a summary)."""
    rows = [r for r in screen(term) if r]
    outcomes = [r for r in rows if re.match(rb"(stored|duplicate|rejected) ", r)]
    t.is_(outcome_counts(b"\n".join(outcomes)), counts,
          "%s: %d stored, %d duplicate, %d rejected rows" % ((what,) + counts))
    rest = [r for r in rows if r not in outcomes and not r.startswith(b"level=info ")]
    t.ok(len(rest) == len(others) and all(r.startswith(p) for r, p in zip(rest, others))
         and PROGRESS.fullmatch(rest[0]),
         "%s: besides them only %s" % (what, b", ".join(others).decode()), rest[:6])
    t.ok(not any(PROGRESS.search(r) for r in outcomes),
         "%s: no row mixes progress and an outcome" % what)


def check_quiet(t, what, out, err, counts):
    """stderr a pipe: no progress text there; the outcome lines on stdout as counted."""
    t.ok(b"messages:" not in err and b"\r" not in err and b"\x1b" not in err,
         "%s: no progress text on stderr" % what, err[-500:])
    t.is_(outcome_counts(out), counts, "%s: the outcome lines on stdout" % what)
