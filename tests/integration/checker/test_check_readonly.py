#!/usr/bin/env python3
"""test_check_readonly.py - `stsd check -c` compares with what this stsd hosts and writes
nothing: the policy file, the recorded ids of its versions (sts.txt.stale-id when DNS publishes
an older one) and the "hosted" object come from the state directory, while stsd.db and its -wal
keep the same sha256 and every table the same row count - also when the policy file holds a
content that has no recorded id yet (it is reported with policy_id null, not recorded).

A real unbound on loopback answers for ro.test; its MX points at a closed loopback port and
mta-sts.ro.test does not resolve, so the check is quick."""

import hashlib
import json
import os
import socket
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stsdtest as st  # noqa: E402

DOMAIN = "ro.test"


def closed_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(state):
    """sha256 of the contents of stsd.db and stsd.db-wal (an absent -wal counts as empty: a
    read-only SQLite connection may create it empty), then the row count of every table."""
    sums = {}
    for name in ("stsd.db", "stsd.db-wal"):
        p = os.path.join(state, name)
        data = open(p, "rb").read() if os.path.exists(p) else b""
        sums[name] = hashlib.sha256(data).hexdigest()
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "stsd.db"), uri=True)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {tb: db.execute('SELECT count(*) FROM "%s"' % tb).fetchone()[0] for tb in tables}
    finally:
        db.close()
    return sums, rows


def main(t):
    tmp = st.tempdir("stsd-checkro-")
    state = os.path.join(tmp, "state")
    conf = os.path.join(tmp, "stsd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nstate_dir = %s\nlisten = 127.0.0.1:%d\n" % (state, st.free_port()))

    def stsd(*args, timeout=60):
        return st.run([st.STSD_BIN, "-c", conf] + list(args), timeout=timeout)

    def policy_id():
        r = stsd("policy", "dns", DOMAIN)
        for line in r.out.splitlines():
            if line.startswith("_mta-sts.") and "id=" in line:
                return line.split("id=", 1)[1].split('"')[0].split(";")[0].strip()
        return None

    # two versions of the hosted policy: DNS keeps publishing the first id
    ids = []
    for mode in ("testing", "enforce"):
        r = stsd("policy", "set", DOMAIN, "--mode", mode, "--mx", "mail.ro.test",
                 "--max-age", "604800")
        t.ok(r.returncode == 0, "policy set %s --mode %s" % (DOMAIN, mode), r)
        ids.append(policy_id())
    t.ok(ids[0] and ids[1] and ids[0] != ids[1], "two versions, two ids %r" % ids)

    dns = st.Unbound(["%s. MX 10 mail.ro.test." % DOMAIN,
                      "mail.ro.test. A 127.0.0.1",
                      "_mta-sts.%s. TXT \"v=STSv1; id=%s\"" % (DOMAIN, ids[0])]).start(
        probe="mail.ro.test.")
    smtp_port = closed_tcp_port()

    def check(*extra):
        r = st.run([st.STSD_BIN, "check", "--json", "--resolver",
                    "%s@%d" % (dns.addr, dns.port), "--smtp-port", str(smtp_port),
                    "--https-port", str(closed_tcp_port()), "--timeout", "2"] + list(extra) +
                   [DOMAIN], timeout=90)
        try:
            d = json.loads(r.out)["domains"][0]
        except (ValueError, KeyError, IndexError):
            d = {}
        return r, d

    before = snapshot(state)
    t.is_(snapshot(state), before, "looking at the database changes nothing (baseline)")
    t.ok(before[1].get("policy_versions", 0) >= 2, "policy_versions has the two versions",
         before[1])

    r, d = check("-c", conf)
    t.ok(r.returncode == 2, "check -c: exit 2 (the MX does not answer)", r)
    t.is_(d.get("hosted"), {"policy": True, "policy_id": ids[1], "cert_not_after": None},
          "check -c: hosted policy and the id of its current content, read from the database")
    stale = [f for f in d.get("findings", []) if f.get("id") == "sts.txt.stale-id"]
    t.ok(len(stale) == 1, "check -c: sts.txt.stale-id (DNS publishes the first id)", d)
    t.ok(stale and "older version" in stale[0].get("message", ""),
         "check -c: the published id is known as an older version", stale)
    t.is_(snapshot(state), before, "check -c: stsd.db and -wal unchanged, no new rows")

    # a content with no recorded id yet: reported as such and still not recorded
    with open(os.path.join(state, "policies", DOMAIN + ".txt"), "w") as f:
        f.write("version: STSv1\nmode: enforce\nmx: mail.ro.test\nmax_age: 1209600\n")
    before = snapshot(state)
    r, d = check("-c", conf)
    t.is_((d.get("hosted") or {}).get("policy_id", "missing"), None,
          "check -c on an unrecorded content: policy_id null")
    t.is_([f["id"] for f in d.get("findings", []) if f.get("id") == "sts.txt.stale-id"], [],
          "check -c on an unrecorded content: no stale-id comparison without an id")
    t.is_(snapshot(state), before, "check -c on an unrecorded content: nothing recorded")

    # without -c: no comparison
    r, d = check()
    t.ok(r.returncode == 2, "check without -c: exit 2", r)
    t.ok("hosted" not in d and d.get("domain") == DOMAIN, "check without -c: no \"hosted\"", d)
    dns.stop()


if __name__ == "__main__":
    st.Tap().run(main)
