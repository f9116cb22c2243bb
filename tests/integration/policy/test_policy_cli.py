#!/usr/bin/env python3
"""Integration test of `stsd policy`: set/show/list/validate/dns on a temporary state dir.

Runs the real stsd binary (STSD_BIN) with a temporary config; checks exact file bytes and
modes, ids and their history in SQLite, exit codes, and the DNS records printed."""

import json
import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}[a-z]*$")


def main(t):
    tmp = st.tempdir("stsd-policy-")
    state = os.path.join(tmp, "state")
    pdir = os.path.join(state, "policies")
    conf = os.path.join(tmp, "stsd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nstate_dir = %s\nlisten = 127.0.0.1:8443\nlisten = [::1]:443\n"
                "[reports]\npath = /reports/tls\npath = /tlsrpt\n" % state)
    conf_any = os.path.join(tmp, "any.conf")
    with open(conf_any, "w") as f:
        f.write("[server]\nstate_dir = %s\nlisten = 0.0.0.0:443\nlisten = [::]:443\n" % state)

    def stsd(*args, conf_path=conf):
        cmd = [st.STSD_BIN]
        if conf_path is not None:
            cmd += ["-c", conf_path]
        return st.run(cmd + ["policy"] + list(args))

    def versions(domain):
        db = sqlite3.connect(os.path.join(state, "stsd.db"))
        try:
            return db.execute("SELECT id, sha256 FROM policy_versions WHERE domain = ? "
                              "ORDER BY rowid", (domain,)).fetchall()
        finally:
            db.close()

    # --- help on the command and every subcommand -------------------------------------------
    for sub in ["", "list", "show", "set", "validate", "dns"]:
        args = ([sub] if sub else []) + ["--help"]
        r = stsd(*args, conf_path=None)
        want = "usage: stsd policy" + (" " + sub if sub else "")
        t.ok(r.returncode == 0 and r.out.startswith(want),
             "stsd policy %s--help exits 0 and prints its usage" % (sub + " " if sub else ""), r)
    r = st.run([st.STSD_BIN, "policy", "set", "-h"])
    t.ok(r.returncode == 0 and "--max-age" in r.out, "set -h documents --max-age", r)

    # --- bad flags and arguments exit 64 -----------------------------------------------------
    bad = [
        (["list", "--nope"], "unknown option"),
        (["list", "extra"], "unexpected argument"),
        (["show"], "exactly one DOMAIN"),
        (["show", "not a domain"], "not a valid domain name"),
        (["frobnicate"], "unknown command"),
        (["set", "example.test", "--bogus"], "unknown option"),
        (["set", "example.test", "--mx", "mail.example.test"], "--mode is missing"),
        (["set", "example.test", "--mode", "Enforce", "--mx", "mail.example.test"],
         "--mode 'Enforce' is not one of enforce, testing, none"),
        (["set", "example.test", "--mode", "enforce"], "needs at least one --mx"),
        (["set", "example.test", "--mode", "enforce", "--mx", "mail.example.test."],
         "trailing dot"),
        (["set", "example.test", "--mode", "enforce", "--mx", "192.0.2.1"], "IP address"),
        (["set", "example.test", "--mode", "enforce", "--mx", "mail.example.test",
          "--max-age", "31557601"], "--max-age '31557601'"),
        (["set", "example.test", "--mode", "enforce", "--mx", "mail.example.test",
          "--max-age", "soon"], "--max-age 'soon'"),
        (["set", "../etc", "--mode", "none"], "not a valid domain name"),
        (["dns", "example.test", "--address", "not-an-ip"], "--address 'not-an-ip'"),
        (["dns", "example.test", "--address"], "missing argument"),
        (["validate"], "exactly one FILE or DOMAIN"),
    ]
    for args, msg in bad:
        r = stsd(*args)
        t.ok(r.returncode == 64 and msg in r.err,
             "policy %s exits 64 saying %r" % (" ".join(args), msg), r)
    t.ok(not os.path.exists(os.path.join(pdir, "example.test.txt")),
         "refused set commands wrote nothing")

    # --- list on an empty store -------------------------------------------------------------
    r = stsd("list", "--json")
    t.ok(r.returncode == 0 and json.loads(r.out)["policies"] == [],
         "list --json on an empty store: no policies", r)

    # --- set writes the exact canonical file, 0644, and prints the id ------------------------
    r = st.run([st.STSD_BIN, "policy", "set", "Example.TEST", "--mode", "enforce", "--mx",
                "mail.example.test", "--mx", "*.MX.example.net", "--mx", "mail.example.test",
                "--max-age", "86400", "-c", conf])  # -c after the subcommand
    path = os.path.join(pdir, "example.test.txt")
    canon = (b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"
             b"mx: *.mx.example.net\r\nmax_age: 86400\r\n")
    t.is_(r.returncode, 0, "set exits 0")
    m = re.search(r"^id: (\S+)$", r.out, re.M)
    id1 = m.group(1) if m else ""
    t.ok(ID_RE.match(id1), "set prints an id YYYYMMDDTHHMMSS: %r" % id1, r)
    t.ok(('publish: _mta-sts.example.test. IN TXT "v=STSv1; id=%s"' % id1) in r.out,
         "set prints the _mta-sts record to publish", r)
    with open(path, "rb") as f:
        t.is_(f.read(), canon, "set wrote the canonical CRLF policy")
    t.is_(oct(os.stat(path).st_mode & 0o7777), oct(0o644), "policy file mode is 0644")
    t.is_(sorted(os.listdir(pdir)), ["example.test.txt"], "no temporary file left behind")
    t.is_([v[0] for v in versions("example.test")], [id1], "one version recorded in SQLite")

    # set with the same content keeps the id
    r = stsd("set", "example.test", "--mode", "enforce", "--mx", "mail.example.test",
             "--mx", "*.mx.example.net", "--max-age", "1d")
    t.ok(r.returncode == 0 and ("id: %s\n" % id1) in r.out and "content unchanged" in r.out,
         "set with identical content keeps the id", r)
    t.is_(len(versions("example.test")), 1, "still one version")

    # a second domain, mode none without mx (-c before the subcommand, on `policy`)
    r = st.run([st.STSD_BIN, "policy", "-c", conf, "set", "other.test", "--mode", "none"])
    t.is_(r.returncode, 0, "set --mode none without --mx works")
    with open(os.path.join(pdir, "other.test.txt"), "rb") as f:
        t.is_(f.read(), b"version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n",
              "mode none policy with the default max_age")

    # --- show and list agree ---------------------------------------------------------------
    r = stsd("show", "example.test", "--json")
    t.is_(r.returncode, 0, "show --json exits 0")
    show = json.loads(r.out) if r.returncode == 0 else {}
    t.is_((show.get("id"), show.get("valid"), show.get("mode"), show.get("max_age"),
           show.get("mx"), show.get("text")),
          (id1, True, "enforce", 86400, ["mail.example.test", "*.mx.example.net"],
           canon.decode()), "show --json: id, valid, mode, max_age, mx, text")
    t.is_([(h["id"], h["current"]) for h in show.get("history", [])], [(id1, True)],
          "show --json: history of one current version")
    r = stsd("list", "--json")
    lst = json.loads(r.out) if r.returncode == 0 else {"policies": []}
    by = {p["domain"]: p for p in lst["policies"]}
    t.is_(sorted(by), ["example.test", "other.test"], "list --json: both domains")
    e = by.get("example.test", {})
    t.is_((e.get("id"), e.get("valid"), e.get("mode"), e.get("max_age"), e.get("n_mx"),
           e.get("error")), (id1, True, "enforce", 86400, 2, None),
          "list --json agrees with show")
    r = stsd("list")
    line = [ln for ln in r.out.splitlines() if ln.startswith("example.test ")]
    t.ok(r.returncode == 0 and len(line) == 1 and
         line[0].split() == ["example.test", "enforce", "86400", "2", id1, "valid"],
         "list text line: domain mode max_age mx id status", r)
    r = stsd("show", "example.test")
    t.ok(r.returncode == 0 and ("id:      %s\n" % id1) in r.out and
         "  mx: *.mx.example.net\n" in r.out and "(current)" in r.out, "show text output", r)
    r = stsd("show", "EXAMPLE.test.", "--json")
    t.ok(r.returncode == 0 and json.loads(r.out)["id"] == id1,
         "show accepts the domain in upper case and with a trailing dot", r)
    r = stsd("show", "missing.test")
    t.ok(r.returncode == 66 and "no policy for missing.test" in r.err,
         "show of a domain without a policy exits 66", r)

    # --- dns --------------------------------------------------------------------------------
    r = stsd("dns", "example.test")
    want = ("; MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) records for example.test\n"
            '_mta-sts.example.test. IN TXT "v=STSv1; id=%s"\n'
            '_smtp._tls.example.test. IN TXT "v=TLSRPTv1; '
            'rua=https://mta-sts.example.test/reports/tls"\n'
            "mta-sts.example.test. IN A 127.0.0.1\n"
            "; note: [server] listen = 127.0.0.1:8443 is not port 443, where senders connect; "
            "forward 443 to it\n"
            "mta-sts.example.test. IN AAAA ::1\n" % id1)
    t.ok(r.returncode == 0, "dns exits 0", r)
    t.is_(r.out, want, "dns prints the records from the specific listen addresses")
    r = stsd("dns", "example.test", "--address", "192.0.2.10", "--address", "2001:db8::10",
             "--address", "192.0.2.10")
    want_addr = "\n".join(want.splitlines()[:3]) + (
        "\nmta-sts.example.test. IN A 192.0.2.10\nmta-sts.example.test. IN AAAA 2001:db8::10\n")
    t.is_(r.out, want_addr, "dns --address prints A and AAAA once each")
    r = stsd("dns", "example.test", conf_path=conf_any)
    lines = r.out.splitlines()
    t.ok(r.returncode == 0 and len(lines) == 5 and
         lines[2] == '_smtp._tls.example.test. IN TXT "v=TLSRPTv1; '
                     'rua=https://mta-sts.example.test/tlsrpt"' and
         lines[3].startswith("; mta-sts.example.test. IN A <public IPv4 address>") and
         "fill in the public one" in lines[3] and
         lines[4].startswith("; mta-sts.example.test. IN AAAA <public IPv6 address>"),
         "dns with 0.0.0.0/[::] listeners prints comments to fill in", r)
    r = stsd("dns", "missing.test")
    t.is_(r.returncode, 66, "dns of a domain without a policy exits 66")

    # --- hand edits get ids -----------------------------------------------------------------
    edited = b"version: STSv1\nmode: testing\nmx: mail.example.test\nmax_age: 3600\n"
    with open(path, "wb") as f:
        f.write(edited)
    r = stsd("show", "example.test", "--json")
    show = json.loads(r.out)
    id2 = show.get("id")
    t.ok(id2 and ID_RE.match(id2) and id2 != id1, "a hand edit gets a new id (%s)" % id2, r)
    t.is_([(h["id"], h["current"]) for h in show["history"]], [(id2, True), (id1, False)],
          "history: the edit is current, the first version kept")
    r = stsd("dns", "example.test")
    t.ok(('"v=STSv1; id=%s"' % id2) in r.out, "dns publishes the new id", r)
    with open(path, "wb") as f:  # the same bytes again
        f.write(edited)
    r = stsd("list", "--json")
    t.is_(json.loads(r.out)["policies"][0]["id"], id2, "rewriting the same content keeps the id")
    t.is_([v[0] for v in versions("example.test")], [id1, id2], "two versions in SQLite")

    # --- validate ---------------------------------------------------------------------------
    r = stsd("validate", "example.test")
    t.ok(r.returncode == 0 and r.out == "%s: valid (mode testing, 1 mx, max_age 3600, id %s)\n"
         % (path, id2), "validate DOMAIN of a valid policy exits 0", r)
    warn = os.path.join(tmp, "warn.txt")
    with open(warn, "wb") as f:
        f.write(b"version: STSv1\r\nmode: enforce\r\nmx: a.example.test\r\nfoo: 1\r\n"
                b"max_age: 604800\r\nmode: none\r\n")
    r = stsd("validate", warn, conf_path=None)
    t.is_((r.returncode, r.out),
          (0, "%s:4: warning: unknown key 'foo' ignored\n"
              "%s:6: warning: duplicate 'mode' ignored; the one on line 2 applies\n"
              "%s: valid (mode enforce, 1 mx, max_age 604800)\n" % (warn, warn, warn)),
          "validate FILE with warnings exits 0 and prints them")
    r = st.run([st.STSD_BIN, "policy", "validate", "-"],
               input=b"version: STSv1\nmode: testing\nmx: a.example.test\n")
    t.is_((r.returncode, r.out), (65, "<stdin>:3: error: missing required field 'max_age'\n"),
          "validate - reads standard input")
    broken = (b"version: STSv1\nmode: enforce\nmx: mail.example.test.\nmax_age: 86400\n"
              b"max_age: 1\n")
    with open(path, "wb") as f:
        f.write(broken)
    r = stsd("validate", "example.test")
    t.is_((r.returncode, r.out),
          (65, "%s:3: error: mx 'mail.example.test.' has a trailing dot; remove it\n"
               "%s:5: warning: duplicate 'max_age' ignored; the one on line 4 applies\n"
               % (path, path)),
          "a broken hand edit: validate DOMAIN exits 65 with the line number")
    r = stsd("validate", path, conf_path=None)
    t.ok(r.returncode == 65 and r.out.startswith("%s:3: error: " % path),
         "validate FILE of the broken file exits 65", r)
    r = stsd("list", "--json")
    e = {p["domain"]: p for p in json.loads(r.out)["policies"]}["example.test"]
    t.is_((e["valid"], e["id"], e["error"]),
          (False, None, "%s:3: mx 'mail.example.test.' has a trailing dot; remove it" % path),
          "list --json shows the broken file with file:line: reason")
    r = stsd("list")
    t.ok(("broken: %s:3: mx 'mail.example.test.'" % path) in r.out, "list text shows broken", r)
    r = stsd("show", "example.test", "--json")
    s = json.loads(r.out)
    t.ok(r.returncode == 0 and s["valid"] is False and s["id"] is None and
         s["diagnostics"][0] == {"line": 3, "severity": "error",
                                 "message": "mx 'mail.example.test.' has a trailing dot; "
                                            "remove it"},
         "show --json of the broken file: diagnostics with line numbers", r)
    t.is_(len(versions("example.test")), 2, "a broken content gets no id")
    r = stsd("dns", "example.test")
    t.ok(r.returncode == 65 and "broken" in r.err, "dns refuses a broken policy (65)", r)
    r = stsd("validate", "missing.test")
    t.is_(r.returncode, 66, "validate of a domain without a policy exits 66")
    r = stsd("validate", os.path.join(tmp, "nope.txt"))
    t.is_(r.returncode, 66, "validate of a missing file exits 66")
    big = os.path.join(tmp, "big.txt")
    with open(big, "wb") as f:
        f.write(b"version: STSv1\n" + b"x" * 70000)
    r = stsd("validate", big)
    t.ok(r.returncode == 65 and "64 KiB" in r.out, "validate of a file over 64 KiB exits 65", r)

    # --- set over the broken file: back to the first content, and to its id ------------------
    r = stsd("set", "example.test", "--mode", "enforce", "--mx", "mail.example.test",
             "--mx", "*.mx.example.net", "--max-age", "86400")
    t.ok(r.returncode == 0 and ("id: %s\n" % id1) in r.out and "seen before" in r.out,
         "set back to the first content publishes the first id again", r)
    with open(path, "rb") as f:
        t.is_(f.read(), canon, "set replaced the broken file with the canonical policy")
    r = stsd("validate", "example.test")
    t.is_(r.returncode, 0, "validate is happy again")

    # --- files that are not <domain>.txt are skipped -----------------------------------------
    with open(os.path.join(pdir, "Not_A_Domain.txt"), "wb") as f:
        f.write(canon)
    with open(os.path.join(pdir, "notes.md"), "wb") as f:
        f.write(b"x")
    r = stsd("list", "--json")
    j = json.loads(r.out)
    t.ok(r.returncode == 0 and j["skipped"] == ["Not_A_Domain.txt"] and
         sorted(p["domain"] for p in j["policies"]) == ["example.test", "other.test"] and
         "skipped" in r.err, "list skips (and names) files that are not <domain>.txt", r)

    # --- the state directory is 0750; every set that changed something is audited -------------
    for d in (state, pdir, os.path.join(state, "certs")):
        t.is_(oct(os.stat(d).st_mode & 0o7777), oct(0o750), "%s is created 0750" % d)
    db = sqlite3.connect(os.path.join(state, "stsd.db"))
    try:
        rows = db.execute("SELECT actor, action, domain, old_id, new_id FROM audit "
                          "ORDER BY id").fetchall()
    finally:
        db.close()
    # the unchanged set and the hand edits wrote none; the broken content had no id
    t.is_(rows, [("cli", "policy.create", "example.test", None, id1),
                 ("cli", "policy.create", "other.test", None, rows[1][4] if len(rows) > 1
                  else None),
                 ("cli", "enforce", "example.test", None, id1)],
          "audit rows: create, create, back to enforce (old id none: the file was broken)")

    # a missing config named with -c is a configuration error
    r = st.run([st.STSD_BIN, "policy", "list", "-c", os.path.join(tmp, "missing.conf")])
    t.is_(r.returncode, 78, "a missing -c file exits 78")


if __name__ == "__main__":
    st.Tap().run(main)
