#!/usr/bin/env python3
"""`stsd reports fetch` on a terminal, against Debian's dovecot on loopback (IMAPS, test CA):
a folder of 300 messages (280 distinct reports, 10 of them sent twice, 10 unusable messages).

- stdout and stderr on the same pseudo-terminal: the progress line "N of 300 messages" rises
  (the folder's messages announced before the first is fetched), at most five redraws a
  second, the last "300 of 300 messages: 280 stored, 10 duplicate, 10 rejected" and a newline;
  the screen holds the 300 outcome lines, each on a row of its own, the final progress line,
  the "fetched ..." summary and the log line: progress never shares a row with an outcome;
- stderr a pipe: no progress text at all.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_lib as il  # noqa: E402
from imap_lib import st  # noqa: E402

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import ttylib as tl  # noqa: E402

N, STORED, DUPLICATE, REJECTED = 300, 280, 10, 10


def messages(tag):
    reps = il.distinct_reports(STORED, tag)
    msgs = [il.report_message(r, i % 2 == 0, i) for i, r in enumerate(reps)]
    msgs += [il.report_message(reps[i], i % 2 == 0, i) for i in range(DUPLICATE)]  # again
    unusable = il.unusable_messages()
    msgs += [unusable[i % len(unusable)] for i in range(REJECTED)]
    return msgs


def fetch(cfg, stderr_tty, stdout_tty=False):
    # stopped for a second once its connection to the server is open
    return tl.run([st.STSD_BIN, "reports", "-c", cfg, "fetch"], "socket:", stderr_tty,
                  stdout_tty)


def main(t):
    dv = il.Dovecot()
    dv.append(messages("tty"))
    t.is_(dv.count("INBOX"), N, "%d messages in INBOX" % N)
    cfg = il.write_config(st.tempdir("stsd-fetch-tty-"), dv)
    rc, _, term, secs, stalled = fetch(cfg, stderr_tty=True, stdout_tty=True)
    t.ok(stalled, "fetch stopped for a second once connected")
    t.is_(rc, 1, "fetch on a terminal: exit 1 (some messages rejected)")
    tl.check_progress(t, "fetch, one terminal", term, secs, N, (STORED, DUPLICATE, REJECTED))
    rows = [r for r in tl.screen(term) if r]
    outcomes = [r for r in rows if re.match(rb"(stored|duplicate|rejected) ", r)]
    t.is_(tl.outcome_counts(b"\n".join(outcomes)), (STORED, DUPLICATE, REJECTED),
          "fetch, one terminal: 280 stored, 10 duplicate, 10 rejected rows")
    others = [r for r in rows if r not in outcomes and not r.startswith(b"level=info ")]
    t.ok(len(others) == 2 and tl.PROGRESS.fullmatch(others[0])
         and others[0].startswith(b"300 of 300") and others[1].startswith(b"fetched messages=300 "),
         "fetch, one terminal: besides them only the final progress line and the summary",
         others[:6])
    t.ok(not any(tl.PROGRESS.search(r) for r in outcomes),
         "fetch, one terminal: no row mixes progress and an outcome")
    t.is_(dv.counts(), {"INBOX": 0, "TLSRPT.done": STORED + DUPLICATE,
                        "TLSRPT.rejected": REJECTED}, "every message moved")

    dv.append(messages("pipe"))
    rc, out, err, secs, stalled = fetch(cfg, stderr_tty=False)
    t.ok(stalled, "fetch (stderr a pipe) stopped for a second once connected")
    t.is_(rc, 1, "fetch, stderr a pipe: exit 1")
    t.ok(b"messages:" not in err and b"\r" not in err and b"\x1b" not in err,
         "fetch, stderr a pipe: no progress text on stderr", err[-500:])
    t.is_(tl.outcome_counts(out), (STORED, DUPLICATE, REJECTED),
          "fetch, stderr a pipe: the outcome lines on stdout")
    dv.stop()


if __name__ == "__main__":
    st.Tap().run(main)
