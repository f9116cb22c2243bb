#!/usr/bin/env python3
"""test_hostile_disk.py - the disk: reports past [reports] keep, and a nearly full file system.

1. Reports whose end-datetime is older than `keep` are pruned when stsd serve starts, with
   their raw bytes, policies and failure details; recent ones stay.
2. The state directory on a 64 MB tmpfs with min_free = 32M: while a sender POSTs, a filler
   file takes the free space below min_free. POSTs get 503 + Retry-After (not a full disk
   and a failing database), every report answered 201 is in the database afterwards, and
   `stsd reports ingest` exits 75 (EX_TEMPFAIL: the MTA keeps the message). With the space
   back, POSTs are stored again.
"""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
STSD = os.environ["STSD_BIN"]
OLD, RECENT = 3000, 20


def seeded_report(i, old):
    r = il.report("%s-%d" % ("old" if old else "recent", i), org="Seeder")
    day = "2024-01-%02d" % (1 + i % 28) if old else time.strftime(
        "%Y-%m-%d", time.gmtime(time.time() - 86400))
    r["date-range"] = {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"}
    r["policies"][0]["failure-details"] *= 3
    r["policies"][0]["summary"]["total-failure-session-count"] = 6
    return r


def prune(t):
    s = il.server(reports=hl.OPEN_INTAKE + "keep = 400d\n", start=False)
    st.Cleanup.add(s.stop)
    seed = os.path.join(s.dir, "seed")
    os.makedirs(seed)
    for i in range(OLD):
        with open(os.path.join(seed, "old-%05d.json" % i), "w") as f:
            json.dump(seeded_report(i, True), f)
    for i in range(RECENT):
        with open(os.path.join(seed, "recent-%05d.json" % i), "w") as f:
            json.dump(seeded_report(i, False), f)
    res = st.run([STSD, "-c", s.config, "reports", "ingest", seed], timeout=120)
    t.is_(res.returncode, 0, "seeded %d old and %d recent reports" % (OLD, RECENT))
    before = il.db_rows(s.db, "SELECT (SELECT COUNT(*) FROM reports), "
                        "(SELECT COUNT(*) FROM failure_details)")[0]
    s.start()
    c = il.Client(s.port)
    t0 = time.monotonic()
    status, _, _ = c.post(il.report_bytes("during-prune"))
    post_s = time.monotonic() - t0
    t.is_(status, 201, "a report POSTed while stsd prunes at start is stored")
    t.ok(post_s < 1.0, "... within 1 s (%.3f s): pruning goes in small batches" % post_s)
    t.ok(s.wait_log("event=reports.pruned", 30), "the prune is logged")
    line = [x for x in s.log().splitlines() if "event=reports.pruned" in x]
    t.diag(line[0] if line else "no reports.pruned line")
    t.ok(line and " reports=%d " % OLD in line[0] and
         " rows=%d " % (OLD * (1 + 1 + 1 + 3)) in line[0],
         "reports.pruned counts every report and row (report, raw, policy, 3 details)")
    left = il.db_rows(s.db, "SELECT (SELECT COUNT(*) FROM reports), "
                      "(SELECT COUNT(*) FROM report_raw), (SELECT COUNT(*) FROM report_policies), "
                      "(SELECT COUNT(*) FROM failure_details), "
                      "(SELECT COUNT(*) FROM reports WHERE report_id LIKE 'old-%')")[0]
    t.diag("before: %d reports, %d detail rows; after: %r" % (before + (left,)))
    t.is_(left, (RECENT + 1, RECENT + 1, RECENT + 1, RECENT * 3 + 1, 0),
          "old reports gone with raw bytes, policies and details; recent ones kept")
    t.is_(s.stop(), 0, "stsd serve exits 0")


def free_bytes(path):
    v = os.statvfs(path)
    return v.f_bavail * v.f_frsize


def disk_full(t):
    mnt = st.tempdir("stsd-disk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt], check=True)
    st.Cleanup.add(subprocess.run, ["umount", "-l", mnt])
    s = il.server(reports=hl.OPEN_INTAKE + "min_free = 32M\n", directory=mnt)
    st.Cleanup.add(s.stop)
    filler = os.path.join(mnt, "filler")
    answers = []  # (time, status, retry-after, id)
    stop = threading.Event()

    def sender():
        c = il.Client(s.port)
        k = 0
        while not stop.is_set():
            k += 1
            status, h, data = c.post(il.report_bytes("disk-%d" % k, gz=True),
                                     "application/tlsrpt+gzip")
            answers.append((time.monotonic(), status, h.get("retry-after"),
                            il.body_json(data).get("id"), "disk-%d" % k))
            time.sleep(0.01)
        c.close()

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    time.sleep(1.0)
    free0 = free_bytes(mnt)
    with open(filler, "wb") as f:  # leave 20 MB: below min_free, room for SQLite
        f.write(b"\0" * max(0, free0 - 20 * 1024 * 1024))
    t_fill = time.monotonic()
    t.diag("free before the filler: %.1f MB, after: %.1f MB (min_free 32 MB)" % (
        free0 / 2**20, free_bytes(mnt) / 2**20))
    time.sleep(3.0)
    os.unlink(filler)
    t_free = time.monotonic()
    time.sleep(2.5)
    stop.set()
    th.join(30)

    low = [a for a in answers if t_fill + 1.5 < a[0] <= t_free]
    t.ok(low and all(a[1] == 503 for a in low),
         "POSTs while the disk is low: 503 (%d answers)" % len(low),
         sorted(set(a[1] for a in low)))
    t.ok(low and all(a[2] is not None and int(a[2]) > 0 for a in low),
         "... with Retry-After (%s s)" % (low[0][2] if low else "?"))
    first_503 = [a[0] - t_fill for a in answers if a[0] > t_fill and a[1] == 503]
    t.diag("first 503 %.2f s after the filler; %d answers in all" % (
        first_503[0] if first_503 else -1, len(answers)))
    t.ok(s.wait_log("event=disk.low", 1), "disk.low logged")
    after = [a for a in answers if a[0] > t_free + 1.5]
    t.ok(after and all(a[1] == 201 for a in after),
         "space back: POSTs stored again (%d)" % len(after))
    t.ok(all(a[1] in (201, 503) for a in answers), "every answer 201 or 503",
         sorted(set(a[1] for a in answers)))
    t.is_(s.stop(), 0, "stsd serve exits 0")
    acked = {a[3]: a[4] for a in answers if a[1] == 201}
    stored = dict(il.db_rows(s.db, "SELECT id, report_id FROM reports"))
    t.ok(acked and all(stored.get(i) == rid for i, rid in acked.items()),
         "every report answered 201 is in the database (%d)" % len(acked))

    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_bytes(mnt) - 20 * 1024 * 1024))
    res = st.run([STSD, "-c", s.config, "reports", "ingest", "-"],
                 input=il.report_bytes("by-mail"), timeout=60)
    t.ok(res.returncode == 75 and "min_free" in res.err and res.out == "",
         "reports ingest below min_free: exit 75, a clear message, nothing stored", res)
    t.is_(il.db_rows(s.db, "SELECT COUNT(*) FROM reports WHERE report_id = 'by-mail'")[0][0], 0,
          "... and nothing in the database")
    os.unlink(filler)


def main(t):
    prune(t)
    disk_full(t)


st.Tap().run(main)
