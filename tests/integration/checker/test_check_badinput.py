#!/usr/bin/env python3
"""test_check_badinput.py - `stsd check` on hostile or broken input: invalid domain names, a
resolver that does not answer, a 64 KB TXT record, an MX set of 1,000 names, an SMTP server
whose greeting never ends, and bad flags. Each must give a clear finding or error, within a
bounded wall time, with an exit status from the documented set and no sanitizer report."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bed as B  # noqa: E402
import stsdtest as st  # noqa: E402

EXITS = {0, 1, 2, 64, 69}  # the exit statuses of stsd check
WALL = 60.0                # generous for ASan on a busy 2-core machine


def common(t, what, r, dt, exits=EXITS):
    t.ok(not r.timed_out and dt < WALL, "%s: done in bounded time (%.1fs < %gs)" %
         (what, dt, WALL))
    t.ok(r.returncode in exits, "%s: exit status %r in %s" % (what, r.returncode, sorted(exits)),
         r)
    san = B.sanitizer_report(r.err)
    t.ok(san is None, "%s: no sanitizer report" % what, san)


def closed_port():
    """A port on 127.0.0.1 where neither UDP nor TCP listens."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        p = u.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", p))
        except OSError:
            u.close()
            continue
        u.close()
        return p
    raise RuntimeError("no closed port")


def main(t):
    bed = B.Bed().start()

    # invalid domain names: a check.input finding (exit 2) or a usage error (64), never a
    # DNS query for them and never a crash
    for name in ["-bad-.test", "a..b", ("a" * 62 + ".") * 4 + "a" * 47 + ".test",
                 "bad_label!.test"]:
        what = "invalid name %r" % (name if len(name) < 40 else name[:20] + "...(%d)" % len(name))
        r, js, dt = bed.check(["--", name], wall=WALL + 30)
        common(t, what, r, dt, {2, 64})
        if r.returncode == 2:
            ds = (js or {}).get("domains") or [{}]
            ids = [f.get("id") for f in ds[0].get("findings", [])]
            t.is_(ids, ["check.input"], what + ": the only finding is check.input")
        else:
            t.ok(r.err.strip() != "", what + ": usage error says why", r.err)

    # a resolver that does not answer: exit 69 and a message naming the resolver
    port = closed_port()
    cmd = [bed.stsd_bin, "check", "--json", "--resolver", "127.0.0.1@%d" % port,
           "--timeout", "3", "good.test"]
    t0 = time.monotonic()
    r = st.run(cmd, timeout=WALL + 30)
    dt = time.monotonic() - t0
    common(t, "unreachable resolver", r, dt, {69})
    t.ok("resolver" in r.err.lower(), "unreachable resolver: stderr names the resolver", r.err)

    # a 64 KB TXT record at _mta-sts (its id is 64,000 bytes long)
    r, js, dt = bed.check(["bigtxt.test"], wall=WALL + 30)
    common(t, "64 KB TXT", r, dt, {2})
    e = B.findings_of(js, "bigtxt.test") or {}
    fs = [f for f in e.get("findings", []) if f.get("id") in ("sts.txt.syntax", "sts.txt.id")]
    t.ok(fs and all(f.get("severity") == "error" for f in fs),
         "64 KB TXT: an sts.txt.syntax or sts.txt.id error", e.get("findings"))

    # an MX set of 1,000 names: capped (mx.too-many, checker.h) or all probed
    r, js, dt = bed.check(["many.test"], wall=WALL + 30)
    common(t, "1,000 MX", r, dt, {0, 1, 2})
    e = B.findings_of(js, "many.test") or {}
    ids = {f.get("id"): f.get("severity") for f in e.get("findings", [])}
    t.ok(ids.get("mx.too-many") == "warning" or len(e.get("mx") or []) == 1000,
         "1,000 MX: mx.too-many warning, or every MX probed", ids)
    t.ok(not any(i in ids for i in ("mx.unreachable", "mx.cert.host", "mx.cert.untrusted")),
         "1,000 MX: the probed ones are fine (same good server)", ids)

    # an SMTP greeting that never ends (a 220- line every 20 ms)
    r, js, dt = bed.check(["mx-endless.test"], wall=WALL + 30)
    common(t, "endless banner", r, dt, {2})
    e = B.findings_of(js, "mx-endless.test") or {}
    fs = [f for f in e.get("findings", []) if f.get("id", "").startswith("mx.") and
          f.get("severity") == "error" and "mx.mx-endless.test" in (f.get("subject") or "")]
    t.ok(fs, "endless banner: an mx.* error for mx.mx-endless.test", e.get("findings"))

    # bad flags: usage errors (64)
    for args in (["--timeout", "abc"], ["--smtp-port", "70000"], ["--https-port", "0x"],
                 ["--resolver", "not an address"], ["--no-such-flag"], []):
        cmd = [bed.stsd_bin, "check"] + args + (["good.test"] if args else [])
        t0 = time.monotonic()
        r = st.run(cmd, timeout=WALL)
        dt = time.monotonic() - t0
        what = "flags %r" % (args or "(no domain)")
        common(t, what, r, dt, {64})
        t.ok(r.err.strip() != "", what + ": says why on stderr", r.err)


if __name__ == "__main__":
    st.Tap().run(main)
