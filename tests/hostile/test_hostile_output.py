#!/usr/bin/python3
"""Output: what came from the internet never drives the operator's terminal or
spreadsheet. Reports whose organization-name, report-id, contact-info, MX names,
additional-information and result-type hold terminal escape sequences (ESC, BEL, C1 CSI, bidi
override) and spreadsheet formulas are POSTed; then `stsd reports list`, `show` and `summary`
(text and --csv, every --by) must print no ESC or other C0 control byte but \\n and \\t, no C1
control, an ESC as the four characters \\x1b, and CSV cells starting with = + - @ guarded by a
leading '; the server's log lines likewise. The checker's text output on DNS records holding ESC bytes (a real unbound) and an
SMTP banner holding them likewise."""

import csv
import io
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
ESC = "\x1b"


def evil_report(rid_suffix, day):
    r = il.report("id" + ESC + "[31m-" + rid_suffix,
                  org="Evil" + ESC + "]0;pwned\x07 Corp" + ESC + "[2J\u009b1m\u202e")
    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - day * 86400))
    end = time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(time.time() - day * 86400))
    r["date-range"] = {"start-datetime": start, "end-datetime": end}
    r["contact-info"] = "mailto:a@b.test" + ESC + "[8m\r\nX-Injected: 1"
    p = r["policies"][0]
    p["policy"]["mx-host"] = ["mx" + ESC + "[1m.a.test"]
    fd = p["failure-details"][0]
    fd["receiving-mx-hostname"] = "mx" + ESC + "[5m.a.test"
    fd["additional-information"] = "see" + ESC + "[?1049h\x01\x7f here"
    fd["result-type"] = "certificate-expired" + ESC + "[0m"
    return r


def formula_report(day):
    r = il.report("+SUM(1,2)", org="=HYPERLINK(\"http://evil.test\",\"x\")")
    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - day * 86400))
    end = time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(time.time() - day * 86400))
    r["date-range"] = {"start-datetime": start, "end-datetime": end}
    r["contact-info"] = "@cmd"
    fd = r["policies"][0]["failure-details"][0]
    fd["receiving-mx-hostname"] = "-2+3"
    fd["result-type"] = "=1+1"
    return r


def bad_bytes(text):
    """The control characters in text that a terminal would act on."""
    return sorted({"%r" % c for c in text
                   if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f or
                   c in "\u202e\u202d\u2066\u2067\u2068\u2069"})


def check_output(t, what, r, csv_out=False):
    raw_out, raw_err = r.stdout if isinstance(r.stdout, bytes) else r.stdout.encode(), \
        r.stderr if isinstance(r.stderr, bytes) else r.stderr.encode()
    out, err = raw_out.decode("utf-8", "replace"), raw_err.decode("utf-8", "replace")
    t.ok(r.returncode == 0 and out.strip(), "%s: exit 0 with output" % what, err[-500:])
    t.ok(b"\x1b" not in raw_out and b"\x1b" not in raw_err, "%s: no ESC byte" % what)
    if csv_out:
        out_check = out.replace("\r\n", "\n")
    else:
        out_check = out
    t.is_(bad_bytes(out_check) + bad_bytes(err), [], "%s: no other control character" % what)
    return out


def run(args):
    import subprocess
    return subprocess.run([st.STSD_BIN] + args, capture_output=True, timeout=60)


class SmtpBanner:
    """A one-connection-at-a-time SMTP server on loopback whose banner and EHLO answer hold
    terminal escapes; no STARTTLS."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            try:
                c.settimeout(3)
                c.sendall(b"220 mx.e.test \x1b[2J\x1b]0;owned\x07 ESMTP\r\n")
                f = c.makefile("rb")
                for line in f:
                    cmd = line.strip().upper()
                    if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                        c.sendall(b"250-mx.e.test \x1b[31mhello\r\n250 SIZE 1000\r\n")
                    elif cmd.startswith(b"QUIT"):
                        c.sendall(b"221 bye\x1b[0m\r\n")
                        break
                    else:
                        c.sendall(b"502 \x1b[5mno\r\n")
            except OSError:
                pass
            finally:
                c.close()


def main(t):
    s = il.server(reports=hl.OPEN_INTAKE)
    c = il.Client(s.port)
    import json
    for i, body in enumerate([evil_report("a", 1), evil_report("b", 2), formula_report(1)]):
        status, h, b = c.post(json.dumps(body).encode())
        t.is_(status, 201, "hostile report %d stored (201): %s" % (i, b[:200]))
    c.close()
    n = il.db_rows(s.db, "SELECT count(*) FROM reports")[0][0]
    t.is_(n, 3, "three reports in the database")
    stored = il.db_rows(s.db, "SELECT organization_name FROM reports ORDER BY id")
    t.ok(ESC in stored[0][0], "the ESC byte is stored as sent (escaping is for output)")

    cfg = ["-c", s.config]
    out = check_output(t, "reports list", run(cfg + ["reports", "list"]))
    t.ok("Evil\\x1b]0;pwned\\x07 Corp\\x1b[2J\\u009b1m\\u202e" in out,
         "an ESC prints as the four characters \\x1b (BEL, C1, bidi as escapes)", out)
    t.ok("id\\x1b[31m-a" in out, "the report-id escaped", out)
    ids = [int(row[0]) for row in il.db_rows(s.db, "SELECT id FROM reports ORDER BY id")]
    for rid in ids:
        out = check_output(t, "reports show %d" % rid, run(cfg + ["reports", "show", str(rid)]))
        if rid == ids[0]:
            for want in ("mailto:a@b.test\\x1b[8m\\r\\nX-Injected: 1", "mx\\x1b[1m.a.test",
                         "mx\\x1b[5m.a.test", "see\\x1b[?1049h\\x01\\x7f here",
                         "certificate-expired\\x1b[0m"):
                t.ok(want in out, "show: %s" % want, out)
            t.ok("\nX-Injected" not in out, "a CR LF in a field does not start a line")
    outs = {}
    for by in ([], ["--by", "reporter"], ["--by", "mx"], ["--by", "result"], ["--by", "day"],
               ["--by", "domain"]):
        what = "reports summary %s" % " ".join(by)
        outs[" ".join(by)] = check_output(t, what, run(cfg + ["reports", "summary"] + by))
    t.ok("Evil\\x1b]0;pwned\\x07 Corp" in outs["--by reporter"], "summary --by reporter: "
         "the organization escaped", outs["--by reporter"])
    t.ok("mx\\x1b[5m.a.test" in outs["--by mx"], "summary --by mx: the MX escaped",
         outs["--by mx"])

    # CSV: no control characters, formulas guarded
    csvs = [("reports list --csv", ["reports", "list", "--csv"])]
    for by in ([], ["--by", "reporter"], ["--by", "mx"], ["--by", "result"]):
        csvs.append(("reports summary --csv %s" % " ".join(by),
                     ["reports", "summary", "--csv"] + by))
    seen_guard = set()
    for what, args in csvs:
        out = check_output(t, what, run(cfg + args), csv_out=True)
        rows = list(csv.reader(io.StringIO(out)))
        cells = [cell for row in rows for cell in row]
        t.is_([x for x in cells if x[:1] in ("=", "+", "-", "@")], [],
              "%s: no cell starts with = + - @" % what)
        seen_guard |= {x for x in cells if x.startswith("'")}
    for want in ("'=HYPERLINK(\"http://evil.test\",\"x\")", "'+SUM(1,2)", "'-2+3", "'=1+1"):
        t.ok(want in seen_guard, "guarded cell %s" % want, sorted(seen_guard))

    # --- the checker's text output ------------------------------------------------------
    smtp = SmtpBanner()
    u = st.Unbound(["e.test. MX 10 mx.e.test.",
                    "mx.e.test. A 127.0.0.1",
                    "_mta-sts.e.test. TXT \"v=STSv1; id=1\\027[2J\\027]0;x\\007\"",
                    "_smtp._tls.e.test. TXT \"v=TLSRPTv1; rua=mailto:r@e.test\\027[31m\"",
                    "mta-sts.e.test. A 127.0.0.1",
                    "x\\027y.e.test. A 127.0.0.1"])
    u.start(probe="e.test.")
    r = run(["check", "--resolver", "%s@%d" % (u.addr, u.port), "--smtp-port", str(smtp.port),
             "--https-port", str(st.free_port()), "--timeout", "3", "e.test"])
    out = r.stdout.decode("utf-8", "replace")
    t.ok(r.returncode in (1, 2) and "_mta-sts TXT" in out, "stsd check ran (exit %d)"
         % r.returncode, out[-1500:] + r.stderr.decode("utf-8", "replace")[-500:])
    t.ok(b"\x1b" not in r.stdout and b"\x1b" not in r.stderr, "check: no ESC byte in the output")
    t.is_(bad_bytes(out) + bad_bytes(r.stderr.decode("utf-8", "replace")), [],
          "check: no other control character")
    t.ok("v=STSv1; id=1\\027[2J" in out or "v=STSv1; id=1\\x1b[2J" in out,
         "the TXT record's ESC is shown escaped", out)
    t.diag("check output:\n" + out)
    smtp.stop = True
    u.stop()
    t.is_(s.stop(), 0, "stsd stops cleanly")
    log = s.log_bytes()
    t.ok(b"org=\"Evil\\x1b]0;pwned\\x07 Corp" in log, "the server log names the sender escaped")
    t.ok(b"\x1b" not in log and b"\xc2\x9b" not in log, "no ESC or C1 byte in the server log")


st.Tap().run(main)
