#!/usr/bin/env python3
"""Integration test of `stsd certs list|renew` with the real binary on a temporary state dir.

Certificates come from a test CA (issuer, not-after and serial compared with what openssl
says of the same files); a hosted domain without one is listed with source none. `renew`
records its request in the database for `stsd serve` to act on: without [acme] directory it
exits 78, for a domain that is not hosted 66, and with no server to answer 75 after --wait,
the request left in acme_state. The server's side of that exchange (the scheduler writing
the outcome into acme_state) is played here by writing the row as the scheduler does, so that
the waiting, the printed outcome and the exit status of `renew` are measured."""

import calendar
import json
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

POLICY = "version: STSv1\nmode: testing\nmx: mail.example.net\nmax_age: 86400\n"


def openssl_field(path, flag):
    """`openssl x509 -noout <flag>` of a certificate file: the value after '='."""
    r = st.run(["openssl", "x509", "-noout", flag, "-in", path])
    return r.out.strip().split("=", 1)[1]


def rfc3339_of_enddate(text):
    """'Mar  6 06:00:00 2027 GMT' (openssl -enddate) as 2027-03-06T06:00:00Z."""
    t = calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z"))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def days_left(not_after, t_before, t_after):
    """The whole days left of a not-after (RFC 3339) as a command run between t_before and
    t_after counts them: one of at most two values."""
    na = epoch(not_after)  # the CLI counts from whole seconds (time(NULL))
    return {int((na - int(t_after)) // 86400), int((na - int(t_before)) // 86400)}


def main(t):
    tmp = st.tempdir("stsd-certs-")
    state = os.path.join(tmp, "state")
    cert_dir = os.path.join(state, "certs")
    os.makedirs(os.path.join(state, "policies"))
    for d in ["a.test", "b.test", "c.test"]:
        with open(os.path.join(state, "policies", d + ".txt"), "w") as f:
            f.write(POLICY)
    ca = st.TestCA(os.path.join(tmp, "ca"))
    # half a day past whole days: the few seconds of this test never cross a day boundary
    # half a day past whole days: the seconds this test takes never cross a day boundary
    leaf_a = ca.issue("mta-sts.a.test", days=60.5)
    leaf_c = ca.issue("mta-sts.c.test", days=10.5, intermediate=True)
    ca.install(leaf_a, cert_dir, "mta-sts.a.test")
    ca.install(leaf_c, cert_dir, "mta-sts.c.test", split=True)
    db_path = os.path.join(state, "stsd.db")
    base = "[server]\nstate_dir = %s\nlisten = 127.0.0.1:%d\n" % (state, st.free_port())
    conf_plain = os.path.join(tmp, "plain.conf")
    with open(conf_plain, "w") as f:
        f.write(base)
    conf = os.path.join(tmp, "acme.conf")
    with open(conf, "w") as f:
        # Nothing listens there: the command line never talks to the CA itself.
        f.write(base + "[acme]\ndirectory = https://localhost:%d/dir\n" % st.free_port())

    def certs(*args, conf_path=conf, timeout=60):
        return st.run([st.STSD_BIN, "-c", conf_path, "certs"] + list(args), timeout=timeout)

    def rows():
        db = sqlite3.connect(db_path)
        db.row_factory = sqlite3.Row
        try:
            return {r["domain"]: dict(r) for r in db.execute("SELECT * FROM acme_state")}
        finally:
            db.close()

    def write_row(domain, **fields):
        """What serve's scheduler records (hosted_acme_put): the fields given, in one write."""
        db = sqlite3.connect(db_path)
        try:
            cols = ", ".join("%s = ?" % k for k in fields)
            db.execute("UPDATE acme_state SET %s WHERE domain = ?" % cols,
                       list(fields.values()) + [domain])
            db.commit()
        finally:
            db.close()

    # --- help everywhere ---------------------------------------------------------------------
    for sub in ["", "list", "renew"]:
        r = st.run([st.STSD_BIN, "certs"] + ([sub] if sub else []) + ["--help"])
        want = "usage: stsd certs" + (" " + sub if sub else "")
        t.ok(r.returncode == 0 and r.out.startswith(want),
             "stsd certs %s--help exits 0 with its usage" % (sub + " " if sub else ""), r)
    r = st.run([st.STSD_BIN, "--help"])
    t.ok(r.returncode == 0 and "certs   list|renew" in r.out, "stsd --help names certs", r)
    r = certs("renew", "--help")
    t.ok("--force" in r.out and "--wait SECS" in r.out and "75" in r.out,
         "renew --help documents --force, --wait and the exit codes", r)
    for args, what in [(["nope"], "an unknown command"), (["list", "--nope"], "an unknown flag"),
                       (["list", "extra"], "an argument to list"),
                       (["renew", "a.test", "b.test"], "two domains"),
                       (["renew", "--wait", "soon"], "a --wait that is no number")]:
        r = certs(*args)
        t.is_(r.returncode, 64, "certs %s: exit 64 for %s" % (" ".join(args), what))

    # --- list ---------------------------------------------------------------------------------
    t_before = time.time()
    r = certs("list", "--json")
    t_after = time.time()
    t.is_(r.returncode, 0, "certs list --json exits 0")
    t.ok(not os.path.exists(db_path), "certs list creates no database", os.listdir(state))
    out = json.loads(r.out)
    t.is_(sorted(out.keys()), ["cert_dir", "certificates"], "JSON: cert_dir and certificates")
    t.is_(out["cert_dir"], cert_dir, "JSON: cert_dir is [tls] cert_dir's default")
    v = out["certificates"]
    t.is_([e["name"] for e in v], ["mta-sts.a.test", "mta-sts.b.test", "mta-sts.c.test"],
          "every certificate and the hosted domain without one, by name")
    keys = ["name", "domain", "file", "issuer", "serial", "not_before", "not_after",
            "days_left", "source", "acme"]
    t.ok(all(list(e.keys()) == keys for e in v), "JSON: every entry has exactly %s" % keys,
         [list(e.keys()) for e in v])
    a, b, c = v
    t.is_(a["issuer"], "CN=stsd test CA", "a: issuer is the test CA")
    t.is_(c["issuer"], "CN=stsd test intermediate", "c: issuer is the intermediate")
    for e, leaf in [(a, leaf_a), (c, leaf_c)]:
        t.is_(e["not_after"], rfc3339_of_enddate(openssl_field(leaf["cert"], "-enddate")),
              "%s: not_after as openssl reads it" % e["name"])
        t.is_(e["serial"], openssl_field(leaf["cert"], "-serial"),
              "%s: serial as openssl prints it" % e["name"])
        t.is_(e["source"], "file", "%s: source file" % e["name"])
        t.is_(e["acme"], None, "%s: no ACME state" % e["name"])
    # TestCA's validity starts a day back: 60.5 days end in 59.5 days less the seconds since
    days_a = days_left(a["not_after"], t_before, t_after)
    t.ok(a["days_left"] in days_a and 57 <= a["days_left"] <= 59,
         "a: %s whole days left" % a["days_left"], days_a)
    t.ok(c["days_left"] in days_left(c["not_after"], t_before, t_after)
         and 7 <= c["days_left"] <= 9, "c: %s whole days left" % c["days_left"])
    a_days = str(a["days_left"])
    t.is_(c["file"], os.path.join(cert_dir, "mta-sts.c.test.crt"), "c: the .crt file")
    t.is_((b["domain"], b["file"], b["issuer"], b["not_after"], b["days_left"], b["source"]),
          ("b.test", None, None, None, None, "none"), "b: no certificate, source none")

    r = certs("list")
    lines = r.out.splitlines()
    t.is_(r.returncode, 0, "certs list exits 0")
    t.ok(lines[0].split() == ["NAME", "NOT", "AFTER", "(UTC)", "DAYS", "SOURCE", "ISSUER"],
         "text: a header line", r)
    t.is_(lines[1].split(), ["mta-sts.a.test", a["not_after"], a_days, "file", "CN=stsd", "test",
                             "CA"], "text: a's line")
    t.is_(lines[2].split(), ["mta-sts.b.test", "-", "-", "none", "-"], "text: b's line")
    t.is_(len(lines), 4, "text: one line per name, no ACME lines yet")

    # --- renew: refusals ---------------------------------------------------------------------
    r = certs("renew", "b.test", conf_path=conf_plain)
    t.is_(r.returncode, 78, "renew without [acme] directory: exit 78")
    t.ok("ACME is not configured" in r.err and "[acme] directory" in r.err,
         "... saying how to configure it", r)
    r = certs("renew", "x.test")
    t.is_(r.returncode, 66, "renew of a domain that is not hosted: exit 66")
    t.ok("x.test is not hosted" in r.err and "x.test.txt" in r.err, "... with the reason", r)
    r = certs("renew", "not a domain")
    t.is_(r.returncode, 64, "renew of a name that is no domain: exit 64")
    t.ok(not os.path.exists(db_path) or rows() == {}, "the refusals recorded nothing")

    # --- renew: not due, nothing ordered ------------------------------------------------------
    r = certs("renew", "a.test")
    t.is_(r.returncode, 0, "renew of a certificate not due: exit 0")
    t.is_(r.out, "mta-sts.a.test: not due (%s days left)\n" % a_days, "... reported not due")
    t.ok("a.test" not in rows(), "... and no request recorded", rows())

    # --- renew with no server: 75, the request stays ------------------------------------------
    t0 = int(time.time())
    start = time.monotonic()
    r = certs("renew", "b.test", "--wait", "2")
    took = time.monotonic() - start
    t.is_(r.returncode, 75, "renew --wait 2 with no serve: exit 75")
    t.ok("no result in 2 s: is `stsd serve` running with [acme] directory set?" in r.err,
         "... saying serve may not run", r)
    t.ok(2.0 <= took < 6.0, "... after the 2 s wait (%.1f s)" % took)
    row = rows().get("b.test")
    t.ok(row is not None and row["request"] == 1 and t0 <= row["requested_at"] <= t0 + 2
         and row["state"] == "", "the request is recorded: request 1, requested_at now", row)
    r = certs("renew", "a.test", "--force", "--wait", "0")
    t.is_((r.returncode, r.out), (0, "requested mta-sts.a.test\n"),
          "renew --force --wait 0 of a certificate not due: requested, exit 0")
    t.is_(rows()["a.test"]["request"], 2, "... recorded as forced (request 2)")

    # without DOMAIN: every hosted domain that is due (c: 8 or so days left, inside 30d)
    r = certs("renew", "--wait", "0")
    t.is_(r.returncode, 0, "renew --wait 0 of every domain: exit 0")
    t.is_(r.out.splitlines(), ["mta-sts.a.test: not due (%s days left)" % a_days,
                               "requested mta-sts.b.test", "requested mta-sts.c.test"],
          "... a not due, b and c requested")
    t.is_(sorted(rows()), ["a.test", "b.test", "c.test"], "... a row per domain asked for")
    r = certs("renew", "--force", "--wait", "0")
    t.is_((r.returncode, r.out.splitlines()), (0, ["requested mta-sts.%s" % d for d in
                                                   ["a.test", "b.test", "c.test"]]),
          "renew --force --wait 0 of every domain: each requested, exit 0")
    t.is_({d: row["request"] for d, row in rows().items()}, {"a.test": 2, "b.test": 2, "c.test": 2},
          "... every row forced (request 2)")

    # --- renew answered by the scheduler ------------------------------------------------------
    def renew_async(*args):
        write_row(args[0], request=0, requested_at=0)
        box = {}
        th = threading.Thread(target=lambda: box.update(r=certs("renew", *args)))
        th.start()
        return th, box

    def wait_request(domain, after):
        """The request renew records. The row was cleared first (as serve does once it has
        handled one), so an older request made in the same second is not mistaken for it."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = rows().get(domain)
            if row and row["requested_at"] >= after and row["request"]:
                return row
            time.sleep(0.1)
        return None

    before = int(time.time())
    th, box = renew_async("c.test", "--wait", "20")
    row = wait_request("c.test", before)
    t.ok(row is not None, "renew c.test recorded its request", row)
    now = int(time.time())
    write_row("c.test", state="pending", last_attempt=now, request=0)
    time.sleep(1.0)
    t.ok(th.is_alive(), "an order still pending is no outcome: renew keeps waiting")
    na = now + 90 * 86400
    write_row("c.test", state="ok", failures=0, last_success=now, not_after=na, serial="0ABC")
    th.join(30)
    r = box.get("r")
    want = "renewed mta-sts.c.test: not after %s\n" % time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime(na))
    t.ok(r is not None and r.returncode == 0 and r.out == want,
         "the scheduler's success: '%s', exit 0" % want.strip(), r)

    before = int(time.time())
    th, box = renew_async("b.test", "--wait", "20")
    t.ok(wait_request("b.test", before) is not None, "renew b.test recorded its request")
    write_row("b.test", state="failed", failures=3, last_attempt=int(time.time()), request=0,
              last_error="challenge: 127.0.0.1: connection refused\x1b[31m")
    th.join(30)
    r = box.get("r")
    t.ok(r is not None and r.returncode == 1 and r.out ==
         "failed mta-sts.b.test: challenge: 127.0.0.1: connection refused\\x1b[31m\n",
         "the scheduler's failure: its error (escaped), exit 1", r)

    # an order that ended without a result (serve stopped during it: the row goes back to its
    # state before, the request stays) is no outcome; the next order's success is
    before = int(time.time())
    th, box = renew_async("c.test", "--force", "--wait", "20")
    t.ok(wait_request("c.test", before) is not None, "renew c.test --force recorded its request")
    write_row("c.test", state="pending", last_attempt=int(time.time()))
    time.sleep(0.5)
    write_row("c.test", state="ok")  # cancelled: last_success stays the earlier one
    time.sleep(1.5)
    t.ok(th.is_alive(), "an order that ended without a result is no outcome: renew waits on")
    na2 = int(time.time()) + 80 * 86400
    write_row("c.test", state="ok", last_attempt=int(time.time()), last_success=int(time.time()),
              not_after=na2, request=0)
    th.join(30)
    r = box.get("r")
    t.ok(r is not None and r.returncode == 0 and r.out.startswith("renewed mta-sts.c.test: "),
         "... and the next order's success ends it, exit 0", r)

    # the request answered without an order (serve found it not due): not renewed, exit 1
    before = int(time.time())
    th, box = renew_async("b.test", "--wait", "20")
    t.ok(wait_request("b.test", before) is not None, "renew b.test recorded its request again")
    write_row("b.test", request=0)
    th.join(30)
    r = box.get("r")
    t.ok(r is not None and r.returncode == 1 and
         r.out.startswith("not renewed mta-sts.b.test: `stsd serve` answered without a new order"),
         "a request answered without an order: 'not renewed', exit 1", r)

    # --- list with the ACME state --------------------------------------------------------------
    write_row("a.test", state="ok", serial=a["serial"], request=0)
    r = certs("list", "--json")
    v = {e["name"]: e for e in json.loads(r.out)["certificates"]}
    t.is_(v["mta-sts.a.test"]["source"], "acme",
          "a certificate whose serial ACME recorded is listed as source acme")
    t.is_(v["mta-sts.c.test"]["source"], "file", "one with another serial stays file")
    acme_b = v["mta-sts.b.test"]["acme"]
    t.ok(acme_b is not None and acme_b["state"] == "failed" and acme_b["failures"] == 3
         and acme_b["last_error"].startswith("challenge: ") and acme_b["request"] == 0,
         "b: the ACME state, failures and last error", acme_b)
    r = certs("list")
    t.ok("    acme: failed, failures 3, next attempt when due, last error: challenge: 127.0.0.1: "
         "connection refused\\x1b[31m\n" in r.out, "text: b's ACME line, escaped", r.out)
    t.ok("\x1b" not in r.out, "text: no raw escape byte reaches the terminal")


st.Tap().run(main)
