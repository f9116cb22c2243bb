#!/usr/bin/env python3
"""RFC 8461 §8.3 withdrawals end in `stsd serve`: once a withdrawal's time has come its
policy file is removed (and the policy is no longer served, 404), an audit row says so; a
withdrawal not yet due stays; a policy put back by hand meanwhile is kept and its withdrawal
ends."""
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

NONE = "version: STSv1\nmode: none\nmax_age: 2\n"
BACK = "version: STSv1\nmode: testing\nmx: mail.c.test\nmax_age: 2\n"


def main(t):
    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    doms = ["a.test", "b.test", "c.test"]
    s = st.Stsd(policies={x: NONE for x in doms},
                certs={"mta-sts." + x: ca.issue("mta-sts." + x) for x in doms})
    s.start()

    def get(dom):
        return st.curl(s.url(dom), resolve="mta-sts.%s:%d:127.0.0.1" % (dom, s.port),
                       cacert=ca.cert)

    for x in doms:
        t.is_(get(x).status, 200, "%s served at start" % x)
    now = int(time.time())
    db = sqlite3.connect(os.path.join(s.state_dir, "stsd.db"))
    with db:
        db.executemany("INSERT INTO withdrawals (domain, started, until, old_id) "
                       "VALUES (?, ?, ?, ?)",
                       [("a.test", now, now + 1, "20260101T000000"),
                        ("b.test", now, now + 3600, "20260101T000000"),
                        ("c.test", now, now + 1, "20260101T000000")])
    with open(os.path.join(s.policy_dir, "c.test.txt"), "w") as f:
        f.write(BACK)  # put back by hand: stays
    a_file = os.path.join(s.policy_dir, "a.test.txt")
    deadline = time.time() + 15
    while os.path.exists(a_file) and time.time() < deadline:
        time.sleep(0.2)
    t.ok(not os.path.exists(a_file), "a.test: its file is removed once the withdrawal ended")
    t.ok(s.wait_log("event=policy.withdrawn removed=1"), "the removal is logged", s.log())
    deadline = time.time() + 5
    while get("a.test").status != 404 and time.time() < deadline:
        time.sleep(0.2)
    t.is_(get("a.test").status, 404, "a.test: no longer served")
    t.is_(get("b.test").status, 200, "b.test: its withdrawal is not due, still served")
    r = get("c.test")
    t.is_((r.status, r.body), (200, BACK.replace("\n", "\r\n").encode()),
          "c.test: put back by hand, kept")
    rows = db.execute("SELECT domain FROM withdrawals ORDER BY domain").fetchall()
    t.is_(rows, [("b.test",)], "only b.test's withdrawal is left")
    audit = db.execute("SELECT actor, action, domain, new_id FROM audit").fetchall()
    t.is_([(a, b, c, n) for a, b, c, n in audit], [("stsd", "remove", "a.test", None)],
          "one audit row: the removal of a.test by stsd")
    db.close()
    s.stop()


if __name__ == "__main__":
    st.Tap().run(main)
