#!/usr/bin/env python3
"""Reloads (SIGHUP or a change in the policy directory): a broken hand edit keeps the last good policy and is logged with file,
line and reason; the fix is picked up by inotify without SIGHUP; SIGHUP reloads too; a new
domain appears (with its certificate), a deleted one 404s; a file whose name is not a
domain is ignored; policy ids are recorded in policy_versions."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

GOOD1 = "version: STSv1\nmode: testing\nmx: mail.a.test\nmax_age: 86400\n"
GOOD2 = "version: STSv1\nmode: enforce\nmx: mail.a.test\nmax_age: 604800\n"
BROKEN = "version: STSv1\nmode: Enforce\nmx: mail.a.test\nmax_age: 604800\n"
B_POL = "version: STSv1\nmode: none\nmax_age: 86400\n"


def crlf(s):
    return s.replace("\n", "\r\n").encode()


def main(t):
    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    s = st.Stsd(policies={"a.test": GOOD1, "b.test": B_POL},
                certs={"mta-sts.a.test": ca.issue("mta-sts.a.test"),
                       "mta-sts.b.test": ca.issue("mta-sts.b.test")})
    # not a domain: ignored (no table entry, no crash)
    with open(os.path.join(s.policy_dir, "not_a_domain.txt"), "w") as f:
        f.write(GOOD1)
    with open(os.path.join(s.policy_dir, "localhost.txt"), "w") as f:
        f.write(GOOD1)
    s.start()

    def get(dom, host=None):
        return st.curl(s.url(dom), resolve="mta-sts.%s:%d:127.0.0.1" % (dom, s.port),
                       cacert=ca.cert, headers=["Host: " + host] if host else ())

    def reloads():
        return s.log().count("event=policy.reload ")

    r = get("a.test")
    t.is_((r.status, r.body), (200, crlf(GOOD1)), "a.test served at start")
    t.ok("domains=2 " in s.log(), "start: 2 domains (names that are not domains ignored)",
         s.log())
    for h in ("mta-sts.not_a_domain", "mta-sts.localhost"):
        t.is_(get("a.test", host=h).status, 404, "Host %s is 404" % h)

    # a broken hand edit (written in place, like an editor without rename)
    n = reloads()
    path = os.path.join(s.policy_dir, "a.test.txt")
    with open(path, "w") as f:
        f.write(BROKEN)
    t.ok(s.wait_log("event=policy.reload ", count=n + 1), "inotify: the edit triggers a reload")
    r = get("a.test")
    t.is_((r.status, r.body), (200, crlf(GOOD1)), "broken edit: the last good body is served")
    line = [l for l in s.log().splitlines() if "event=policy.invalid" in l]
    t.ok(len(line) >= 1 and "level=warn" in line[-1] and ('file="%s"' % path in line[-1] or "file=%s " % path in line[-1]) and
         " line=2 " in line[-1] and "reason=" in line[-1] and "serving=last-good" in line[-1],
         "policy.invalid is logged with file, line 2 and reason", "\n".join(line) or s.log())
    t.ok("stale=1" in s.log().splitlines()[-1] or
         any("stale=1" in l for l in s.log().splitlines() if "policy.reload" in l),
         "the reload counts the stale entry")

    # the fix is picked up by inotify alone
    n = reloads()
    s.write_policy("a.test", GOOD2)
    t.ok(s.wait_log("event=policy.reload ", count=n + 1), "inotify: the fix triggers a reload")
    r = get("a.test")
    t.is_((r.status, r.body), (200, crlf(GOOD2)), "the fixed policy is served without SIGHUP")

    # a broken new domain is never served (404, there is no last good version)
    n = reloads()
    s.write_policy("c.test", BROKEN)
    t.ok(s.wait_log("event=policy.reload ", count=n + 1), "new broken file: reload")
    r = get("a.test", host="mta-sts.c.test")
    t.is_(r.status, 404, "a domain whose only version is broken is 404")
    t.ok("serving=none" in s.log(), "... and logged with serving=none")

    # SIGHUP: new domain + its certificate, deleted domain
    st.TestCA.install(ca.issue("mta-sts.d.test"), s.cert_dir, "mta-sts.d.test")
    # stop inotify from racing with the check: wait for the reload it causes, then change
    # files that only SIGHUP is asked to pick up (the result is the same either way)
    s.write_policy("d.test", GOOD1)
    s.remove_policy("b.test")
    n = reloads()
    s.hup()
    t.ok(s.wait_log("why=sighup", count=1), "SIGHUP reloads", s.log())
    t.ok(s.wait_log("event=policy.reload ", count=n + 1), "reload logged after SIGHUP")
    r = get("d.test")
    t.is_((r.status, r.body), (200, crlf(GOOD1)),
          "a new domain is served with its new certificate (curl verifies it)")
    r = get("b.test")
    t.is_(r.status, 404, "a deleted domain is 404")
    t.is_(get("a.test").body, crlf(GOOD2), "unchanged domains keep their policy")

    # policy ids in the database: GOOD1 and GOOD2 of a.test, never BROKEN
    db = sqlite3.connect(os.path.join(s.state_dir, "stsd.db"))
    rows = db.execute("SELECT domain, sha256 FROM policy_versions ORDER BY domain, first_seen")
    rows = rows.fetchall()
    db.close()
    import hashlib
    want = sorted([("a.test", hashlib.sha256(GOOD1.encode()).hexdigest()),
                   ("a.test", hashlib.sha256(GOOD2.encode()).hexdigest()),
                   ("b.test", hashlib.sha256(B_POL.encode()).hexdigest()),
                   ("d.test", hashlib.sha256(GOOD1.encode()).hexdigest())])
    t.is_(sorted(rows), want, "policy_versions holds every good content once, no broken one")

    # the policy directory disappears (renamed away): keep serving; it comes back: reload
    n = reloads()
    moved = s.policy_dir + ".away"
    os.rename(s.policy_dir, moved)
    s.hup()
    t.ok(s.wait_log("event=policy.dir", count=1), "an unreadable directory is logged", s.log())
    t.ok(s.wait_log("event=policy.reload ", count=n + 1), "... and the reload completes")
    r = get("a.test")
    t.is_((r.status, r.body), (200, crlf(GOOD2)), "policies stay served without their directory")
    os.rename(moved, s.policy_dir)
    s.write_policy("a.test", GOOD1)
    s.hup()
    t.ok(s.wait_log("event=policy.reload ", count=n + 2), "it comes back: reload")
    r = get("a.test")
    t.is_((r.status, r.body), (200, crlf(GOOD1)), "and changes are picked up again")

    t.is_(s.stop(), 0, "SIGTERM: exit 0")


if __name__ == "__main__":
    st.Tap().run(main)
