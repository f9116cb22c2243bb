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
    counts = (STORED, DUPLICATE, REJECTED)
    what = "fetch, one terminal"
    _, term, secs = tl.check_run(t, what, fetch(cfg, stderr_tty=True, stdout_tty=True))
    tl.check_progress(t, what, term, secs, N, counts)
    tl.check_screen(t, what, term, counts, [b"300 of 300 messages: ", b"fetched messages=300 "])
    t.is_(dv.counts(), {"INBOX": 0, "TLSRPT.done": STORED + DUPLICATE,
                        "TLSRPT.rejected": REJECTED}, "every message moved")

    dv.append(messages("pipe"))
    what = "fetch, stderr a pipe"
    out, err, secs = tl.check_run(t, what, fetch(cfg, stderr_tty=False))
    tl.check_quiet(t, what, out, err, counts)
    dv.stop()


if __name__ == "__main__":
    st.Tap().run(main)
