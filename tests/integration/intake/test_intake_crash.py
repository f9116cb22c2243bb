#!/usr/bin/env python3
"""Nothing acknowledged with 2xx may be lost: while a pool of HTTPS clients posts
distinct reports, the server is killed with SIGKILL. After a restart every report that was
answered 201 is in the database with the id it was given, the database passes
PRAGMA integrity_check, `stsd reports list --json` agrees, and the server stores new reports.
A graceful stop (SIGTERM) under the same load answers every report it accepted and stores
every one it answered 201.
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

CLIENTS = 6


def load(port, prefix, stop, created, answers):
    """Each client posts distinct reports until `stop` is set or the server is gone."""
    def run(n):
        cl = il.Client(port, timeout=30)
        i = 0
        while not stop.is_set():
            rid = "%s-%d-%d" % (prefix, n, i)
            i += 1
            try:
                status, hdrs, body = cl.post(il.report_bytes(rid, gz=(i % 2 == 0)))
            except Exception:
                break  # the server went away
            answers.append(status)
            if status == 201:
                created.append((rid, il.body_json(body).get("id")))
        cl.close()
    ths = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for th in ths:
        th.start()
    return ths


def stored(db):
    return dict(il.db_rows(db, "SELECT report_id, id FROM reports"))


def start_load(prefix, want, seconds, poll):
    """A server with CLIENTS posting to it; returns once `want` reports were answered 201
    or after `seconds`, with what stops the clients and the lists they fill."""
    s = il.server("accept = any\n", threads=2)
    stop = threading.Event()
    created, answers = [], []
    ths = load(s.port, prefix, stop, created, answers)
    deadline = time.monotonic() + seconds
    while len(created) < want and time.monotonic() < deadline:
        time.sleep(poll)
    return s, stop, ths, created, answers


def stop_load(stop, ths):
    stop.set()
    for th in ths:
        th.join(60)


def kill9(t):
    s, stop, ths, created, answers = start_load("crash", 300, 30, 0.02)
    t.ok(len(created) >= 50, "the clients got 201s before the kill (%d)" % len(created))
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    stop_load(stop, ths)
    n201 = len(created)
    got = stored(s.db)
    missing = [(rid, i) for rid, i in created if got.get(rid) != i]
    t.is_(missing, [], "all %d reports answered 201 are stored with their ids (%d rows)" %
          (n201, len(got)))
    t.is_(il.db_rows(s.db, "PRAGMA integrity_check"), [("ok",)], "PRAGMA integrity_check: ok")

    s2 = st.Stsd(policies={"a.test": il.POLICY}, certs={il.HOST: il.ca().leaf}, threads=2,
                 extra_config="[reports]\naccept = any\n", directory=s.dir)
    s2.db = s.db
    s2.start()
    r = st.run([st.STSD_BIN, "reports", "-c", s2.config, "list", "--json", "--since",
                "2000-01-01", "--until", "2100-01-01"], timeout=60)
    try:
        listed = {x["report_id"] if "report_id" in x else x.get("report-id"): x["id"]
                  for x in json.loads(r.out)["reports"]}
    except (ValueError, KeyError, TypeError):
        listed = None
    t.ok(listed is not None and all(listed.get(rid) == i for rid, i in created) and
         len(listed) == len(got), "stsd reports list --json after the restart lists them all",
         r)
    cl = il.Client(s2.port)
    status, hdrs, body = cl.post(il.report_bytes("after-restart"))
    t.is_(status, 201, "the restarted server stores new reports")
    if created:
        rid, i = created[0]
        status, hdrs, body = cl.post(il.report_bytes(rid, gz=False))
        t.is_((status, il.body_json(body)), (200, {"status": "duplicate", "id": i}),
              "a report stored before the kill is a duplicate after it")
    cl.close()
    t.is_(s2.stop(), 0, "stsd stops with status 0")


def graceful(t):
    s, stop, ths, created, answers = start_load("term", 200, 20, 0.05)
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(30)
    stop_load(stop, ths)
    t.is_(rc, 0, "SIGTERM under load: exit status 0")
    got = stored(s.db)
    missing = [(rid, i) for rid, i in created if got.get(rid) != i]
    t.is_(missing, [], "all %d reports answered 201 before the stop are stored" % len(created))
    t.is_([a for a in answers if a not in (201, 503)], [],
          "every answer was 201 (or 503 once stopping)")
    t.is_(len(got), len(created), "nothing was stored without being answered 201")


def main(t):
    kill9(t)
    graceful(t)


if __name__ == "__main__":
    st.Tap().run(main)
