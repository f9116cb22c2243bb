#!/usr/bin/env python3
"""The two intake routes share one store (HTTPS POST and e-mail):

- the same report by HTTPS and by e-mail (`stsd reports ingest` of the .eml) is stored once,
  whichever arrives first, and both routes name the same id;
- `stsd reports ingest` running while the server stores reports posted by a pool of HTTPS
  clients: no "database is locked", no lost report on either side;
- the e-mail route has the same bounds as HTTPS: a value bomb (.json.gz of a million empty
  objects) is rejected for max_values, a gzip inside a gzip past max_json as too large.
"""
import email
import email.policy
import gzip
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402


def eml_part(path):
    """(content type, bytes) of the TLS-RPT part of a message, decoded (python's email)."""
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    for part in msg.walk():
        ct = part.get_content_type()
        name = part.get_filename() or ""
        if ct in ("application/tlsrpt+gzip", "application/tlsrpt+json") or \
                name.endswith(".json.gz") or name.endswith(".json"):
            data = part.get_payload(decode=True)
            return ("application/tlsrpt+gzip" if data[:2] == b"\x1f\x8b"
                    else "application/tlsrpt+json"), data
    return None, None


def ingest(s, *paths):
    return st.run([st.STSD_BIN, "reports", "-c", s.config, "ingest"] + list(paths),
                  timeout=120)


def both_routes(t, s):
    emls = sorted(os.path.join(il.TLSRPT, "email", n)
                  for n in os.listdir(os.path.join(il.TLSRPT, "email")) if n.endswith(".eml"))
    t.ok(len(emls) >= 2, "at least two e-mail samples (%d)" % len(emls))
    cl = il.Client(s.port)
    for k, path in enumerate(emls):
        name = os.path.basename(path)
        ctype, data = eml_part(path)
        t.ok(data is not None, "%s: python's email finds the report part" % name)
        if data is None:
            continue
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        rep = json.loads(raw)
        key = (rep["organization-name"], rep["report-id"])
        if k % 2 == 0:  # HTTPS first, then e-mail
            status, hdrs, body = cl.post(data, ctype)
            rid = il.body_json(body).get("id")
            t.is_(status, 201, "%s: HTTPS first: 201" % name)
            r = ingest(s, path)
            t.ok(r.returncode == 0 and re.search(r"^duplicate id=%s " % rid, r.out, re.M),
                 "%s: then by e-mail: duplicate id=%s" % (name, rid), r)
        else:  # e-mail first, then HTTPS
            r = ingest(s, path)
            m = re.search(r"^stored id=(\d+) ", r.out, re.M)
            t.ok(r.returncode == 0 and m, "%s: e-mail first: stored" % name, r)
            status, hdrs, body = cl.post(data, ctype)
            t.is_((status, il.body_json(body)),
                  (200, {"status": "duplicate", "id": int(m.group(1)) if m else None}),
                  "%s: then by HTTPS: 200 duplicate with the same id" % name)
        t.is_(il.db_rows(s.db, "SELECT count(*) FROM reports WHERE organization_name = ? "
                         "AND report_id = ?", key), [(1,)], "%s: stored once" % name)
    cl.close()


def concurrent(t, s):
    d = st.tempdir("stsd-intake-files-")
    batches = []
    for b in range(3):
        bd = os.path.join(d, "b%d" % b)
        os.makedirs(bd)
        for i in range(300):
            with open(os.path.join(bd, "r%03d.json%s" % (i, ".gz" if i % 2 else "")),
                      "wb") as f:
                f.write(il.report_bytes("file-%d-%d" % (b, i), gz=bool(i % 2),
                                        org="File Sender"))
        batches.append(bd)
    stop = threading.Event()
    created, answers, answered_at = [], [], []

    def client(n):
        cl = il.Client(s.port)
        i = 0
        while not stop.is_set():
            rid = "web-%d-%d" % (n, i)
            i += 1
            status, hdrs, body = cl.post(il.report_bytes(rid))
            answers.append((status, body))
            answered_at.append(time.monotonic())
            if status == 201:
                created.append((rid, il.body_json(body).get("id")))
        cl.close()
    ths = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for th in ths:
        th.start()
    time.sleep(0.3)
    t_in0 = time.monotonic()
    results = [ingest(s, bd) for bd in batches]
    t_in1 = time.monotonic()
    stop.set()
    for th in ths:
        th.join(60)
    for k, r in enumerate(results):
        t.ok(r.returncode == 0 and r.out.count("\nstored id=") + r.out.startswith("stored id=")
             == 300, "ingest of 300 files during HTTPS posting: 300 stored, exit 0", r)
    out = "".join(r.out + r.err for r in results)
    t.ok("locked" not in out and "locked" not in s.log(),
         "no 'database is locked' from the CLI or the server")
    # Overlap, not a rate: on a fast machine the three ingests take well under a second.
    during = sum(1 for w in answered_at if t_in0 <= w <= t_in1)
    t.ok(during >= 5 and all(a[0] == 201 for a in answers),
         "HTTPS posts meanwhile: every one 201 (%d, %d of them while ingest ran)" %
         (len(created), during), [a for a in answers if a[0] != 201][:5])
    got = dict(il.db_rows(s.db, "SELECT report_id, id FROM reports"))
    t.is_([c for c in created if got.get(c[0]) != c[1]], [],
          "every report answered 201 is stored with its id")
    t.is_(il.db_rows(s.db, "SELECT count(*) FROM reports WHERE organization_name = "
                     "'File Sender'"), [(900,)], "every file report is stored")


def bounds(t, s):
    d = st.tempdir("stsd-ingest-bounds-")
    text = json.dumps(il.report("mail-bomb"))
    bomb = os.path.join(d, "bomb.json.gz")
    with open(bomb, "wb") as f:
        f.write(gzip.compress((text[:-1] + ',"x":[' + "{}," * 999999 + "{}]}").encode()))
    nested = os.path.join(d, "nested.json.gz")
    with open(nested, "wb") as f:
        f.write(gzip.compress(gzip.compress(bytes(30 << 20))))
    r = ingest(s, bomb, nested)
    t.ok(r.returncode == 1 and
         re.search(r"^rejected .*bomb\.json\.gz.*max_values \(100000\)", r.out, re.M) and
         re.search(r"^rejected .*nested\.json\.gz.*max_json", r.out, re.M),
         "reports ingest: a value bomb and a nested gzip bomb are rejected", r)
    t.is_(il.db_rows(s.db, "SELECT count(*) FROM reports WHERE report_id = 'mail-bomb'"),
          [(0,)], "the bomb is not stored")


def main(t):
    s = il.server("accept = any\n")
    both_routes(t, s)
    concurrent(t, s)
    bounds(t, s)
    s.stop()


if __name__ == "__main__":
    st.Tap().run(main)
