#!/usr/bin/env python3
"""test_hostile_mail.py - e-mailed reports as an attacker writes them, against `reports ingest`.

Every DKIM-Signature header of a message makes the verifier ask DNS for a key at a domain the
sender chose. A DNS sink on loopback (python, below) stands for the resolver: it counts the
distinct names asked and either never answers (a resolver that hangs) or answers NXDOMAIN at
once. The bounds are measured from outside the process: distinct names asked, wall time, and
the ingest process's peak RSS (wait4's ru_maxrss).

  1. 300 messages signed by d=slow.test while the resolver never answers: one name asked, not
     300, and the run takes about one lookup deadline, not 300 of them (the key cache keeps the
     failure); every report is still stored, each with dkim temperror.
  2. 40 messages with 200 DKIM-Signature headers each, every one naming another domain: at most
     SIG_CAP names asked per message, the run quick, RSS bounded.
  3. one message whose header block is 4 MB of 20,000 fields: rejected or stored, quickly,
     with RSS bounded.
  4. 20 messages each signed by a new domain whose DNS answers SERVFAIL only after 4 s (a
     wildcard under a stalling zone, behind a resolver that gives up): the run stops asking
     once its failed lookups have waited RUN_FAIL in all, so it takes about that long, not 20
     times 4 s; every report is still stored.
"""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il

SIG_CAP = 5            # signatures the verifier evaluates per message
LOOKUP_DEADLINE = 5.0  # seconds one key lookup may wait
RUN_FAIL = 30.0        # seconds the failed lookups of one run may wait in all


class DnsSink:
    """A UDP 'resolver' on 127.0.0.1 that records every question's name; mode 'hang' never
    answers, 'nxdomain' answers NXDOMAIN at once, 'slow' answers SERVFAIL after 4 s (a
    resolver whose upstream stalls: it answers, so it is never taken for down)."""

    def __init__(self, mode):
        self.mode = mode
        self.names = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.stop_flag = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @staticmethod
    def _qname(pkt):
        labels, i = [], 12
        while i < len(pkt) and pkt[i] != 0 and len(labels) < 64:
            n = pkt[i]
            labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return ".".join(labels).lower(), i + 5

    def _run(self):
        while not self.stop_flag:
            try:
                pkt, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(pkt) < 17:
                continue
            name, end = self._qname(pkt)
            self.names.append(name)
            if self.mode in ("nxdomain", "slow"):
                rcode = 3 if self.mode == "nxdomain" else 2
                flags = 0x8000 | (struct.unpack(">H", pkt[2:4])[0] & 0x0100) | 0x0080 | rcode
                reply = pkt[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + pkt[12:end]
                if self.mode == "slow":
                    threading.Timer(4.0, self._send, (reply, addr)).start()
                else:
                    self.sock.sendto(reply, addr)

    def _send(self, reply, addr):
        try:
            self.sock.sendto(reply, addr)
        except OSError:
            pass

    def distinct(self):
        return set(n for n in self.names if "_domainkey" in n)

    def close(self):
        self.stop_flag = True
        self.t.join(2)
        self.sock.close()


def report_part(i):
    data = il.report_bytes("hostile-mail-%d" % i, gz=True, org="Hostile Mailer")
    return base64.encodebytes(data).decode()


def signature(domain, selector="sel"):
    bh = base64.b64encode(os.urandom(32)).decode()
    b = base64.b64encode(os.urandom(256)).decode()
    return ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s;\r\n"
            "\th=from:to:subject:date; bh=%s;\r\n\tb=%s\r\n" % (domain, selector, bh, b))


def message(i, sigs, extra_headers=""):
    return ("".join(sigs) + extra_headers +
            "From: reports@%s\r\nTo: tlsrpt@a.test\r\nSubject: Report %d\r\n"
            "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nTLS-Report-Domain: a.test\r\n"
            "TLS-Report-Submitter: hostile.example\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
            "--b\r\nContent-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n"
            % ("hostile.example", i, report_part(i)))


def mbox(msgs):
    out = []
    for m in msgs:
        out.append("From reports@hostile.example Mon Dec  7 10:00:00 2026\n")
        out.append(m.replace("\r\n", "\n"))
        out.append("\n")
    return "".join(out)


def ingest(d, sink_port, path):
    """Run `stsd reports ingest` on path; (exit status, seconds, peak RSS MB, stdout)."""
    conf = os.path.join(d, "stsd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nstate_dir = %s\n[checks]\nresolver = 127.0.0.1@%d\n"
                % (os.path.join(d, "state"), sink_port))
    os.makedirs(os.path.join(d, "state"), exist_ok=True)
    out = open(os.path.join(d, "out.txt"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen([os.environ["STSD_BIN"], "-c", conf, "reports", "ingest", path],
                         stdout=out, stderr=subprocess.STDOUT)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    out.seek(0)
    text = out.read()
    out.close()
    return p.returncode, secs, ru.ru_maxrss / 1024.0, text


def stored(d):
    return il.db_rows(os.path.join(d, "state", "stsd.db"),
                      "SELECT dkim, COUNT(*) FROM reports GROUP BY dkim")


def case_hang(t):
    d = st.tempdir()
    sink = DnsSink("hang")
    st.Cleanup.add(sink.close)
    path = os.path.join(d, "slow.mbox")
    with open(path, "w") as f:
        f.write(mbox([message(i, [signature("slow.test")]) for i in range(300)]))
    rc, secs, rss, out = ingest(d, sink.port, path)
    names = sink.distinct()
    t.ok(rc == 0, "300 messages whose key never comes: exit %d" % rc, out[-400:])
    t.ok(names == {"sel._domainkey.slow.test"},
         "one key name asked for 300 messages (asked: %s, %d packets)"
         % (sorted(names)[:5], len(sink.names)))
    t.ok(secs < 6 * LOOKUP_DEADLINE,
         "the run took %.1f s: about one lookup deadline (%.0f s), not 300 (%.0f s)"
         % (secs, LOOKUP_DEADLINE, 300 * LOOKUP_DEADLINE))
    rows = dict(stored(d))
    t.ok(rows == {"temperror": 300}, "all 300 stored, each with dkim temperror: %s" % rows)
    t.diag("hang: %.1f s, peak RSS %.1f MB" % (secs, rss))


def case_flood(t):
    d = st.tempdir()
    sink = DnsSink("nxdomain")
    st.Cleanup.add(sink.close)
    path = os.path.join(d, "flood.mbox")
    msgs = [message(i, [signature("d%d-%d.flood.test" % (i, k)) for k in range(200)])
            for i in range(40)]
    with open(path, "w") as f:
        f.write(mbox(msgs))
    size = os.path.getsize(path)
    rc, secs, rss, out = ingest(d, sink.port, path)
    names = sink.distinct()
    t.ok(len(names) <= 40 * SIG_CAP,
         "40 messages x 200 signatures: %d key names asked (cap %d x 40; 8,000 without a cap)"
         % (len(names), SIG_CAP))
    t.ok(len(names) >= 40, "each message's signatures were looked at (%d names)" % len(names))
    rows = dict(stored(d))
    t.ok(rows == {"fail": 40}, "40 stored, each dkim fail (no key): %s" % rows, out[-400:])
    t.ok(secs < 30, "the run took %.1f s (mbox %.1f MB)" % (secs, size / 1e6))
    t.ok(rss < 60, "peak RSS %.1f MB (bound 60 MB)" % rss)


def case_headers(t):
    d = st.tempdir()
    sink = DnsSink("nxdomain")
    st.Cleanup.add(sink.close)
    extra = "".join("X-Filler-%d: %s\r\n" % (k, "x" * 180) for k in range(20000))
    path = os.path.join(d, "headers.eml")
    with open(path, "w") as f:
        f.write(message(1, [signature("big.test")], extra))
    size = os.path.getsize(path)
    rc, secs, rss, out = ingest(d, sink.port, path)
    t.ok(rc in (0, 1), "a %.1f MB header block: exit %d" % (size / 1e6, rc), out[-300:])
    t.ok(secs < 20, "handled in %.1f s" % secs)
    t.ok(rss < 10 * size / 1e6 + 40,
         "peak RSS %.1f MB for a %.1f MB message (bound 10x + 40 MB)" % (rss, size / 1e6))


def case_new_domains(t):
    d = st.tempdir()
    sink = DnsSink("slow")
    st.Cleanup.add(sink.close)
    path = os.path.join(d, "stall.mbox")
    with open(path, "w") as f:
        f.write(mbox([message(i, [signature("n%d.stall.test" % i)]) for i in range(20)]))
    rc, secs, rss, out = ingest(d, sink.port, path)
    names = sink.distinct()
    t.ok(rc == 0, "20 messages, each a new stalling domain: exit %d" % rc, out[-400:])
    t.ok(RUN_FAIL - 1 < secs < RUN_FAIL + LOOKUP_DEADLINE + 5,
         "the run took %.1f s: bounded by the run's %.0f s of failed waits, not 20 x 4 s"
         % (secs, RUN_FAIL))
    t.ok(len(names) <= RUN_FAIL / 4 + 1,
         "%d of the 20 key names asked before the run stopped asking" % len(names))
    rows = dict(stored(d))
    t.ok(rows == {"temperror": 20}, "all 20 stored, each with dkim temperror: %s" % rows)


def main(t):
    case_hang(t)
    case_flood(t)
    case_headers(t)
    case_new_domains(t)


if __name__ == "__main__":
    st.Tap().run(main)
