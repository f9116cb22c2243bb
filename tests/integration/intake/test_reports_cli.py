#!/usr/bin/env python3
"""test_reports_cli.py - `stsd reports ingest|list|show|summary` end to end.

Ingests every sample report (tests/data/tlsrpt/valid/*.json and the e-mails in
tests/data/tlsrpt/email/) as files, a gzip copy, an mbox, a Maildir and stdin, then checks
that each report is stored once (a copy with other content under a stored report-id is a
conflict: stored, marked, not counted), that `summary --json` equals the sums this script computes
itself from the files with python's json and email modules, that list and show agree, that
`show --raw` gives back the original bytes and that the CSV parses.
"""

import csv
import email
import glob
import gzip
import io
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

STSD = os.environ["STSD_BIN"]
DATA = os.path.join(os.environ["STSD_TEST_DATA"], "tlsrpt")
MAX_COUNT = 1 << 40  # DB_REPORT_MAX_COUNT: stored session counts are clamped to it
WINDOW = ["--since", "2000-01-01", "--until", "2100-01-01"]

LINE = re.compile(r'^(stored|duplicate|conflict) id=(\d+)(?: conflict_of=(\d+))? '
                  r'org=("(?:[^"\\]|\\.)*"|\S+) '
                  r'report-id=("(?:[^"\\]|\\.)*"|\S+) (file=.*?)'
                  r'(?: dkim=(?:pass|unaligned|fail|none|temperror)(?: d=\S+)?)?$')


def unq(v):
    if v.startswith('"'):
        return re.sub(r'\\(.)', r'\1', v[1:-1])
    return v


def clamp(v):
    return max(0, min(int(v), MAX_COUNT))


def sample_facts():
    """{JSON bytes: the parsed facts} of the samples: their .expect files hold what the parser
    makes of them (normalised: domain case, mx prefixes, datetimes), which is what "the same
    content" means for stsd (report_digest)."""
    out = {}
    for p in glob.glob(os.path.join(DATA, "valid", "*.json")):
        with open(p, "rb") as f, open(p[:-len(".json")] + ".expect", "rb") as e:
            out[f.read()] = e.read()
    return out


FACTS = sample_facts()


def ascii_lower(s):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


class Model:
    """What the database must hold, computed from the input bytes independently of stsd."""

    def __init__(self):
        # copy key -> dict: (org, report-id) for the first copy, (org, report-id, n) for the
        # n-th copy with other content (a conflict: stored, not counted in summaries)
        self.reports = {}
        self.copies = {}  # (org, report-id) -> [copy keys]
        self.order = []

    def counted(self):
        return [r for r in self.reports.values() if r["counted"]]

    @staticmethod
    def parse(raw):
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        d = json.loads(data.decode("utf-8-sig"))
        pols = []
        for p in d.get("policies") or []:
            s = p.get("summary") or {}
            fails = []
            for f in p.get("failure-details") or []:
                host = f.get("receiving-mx-hostname") or ""
                mx = ascii_lower(host).rstrip(".") or f.get("receiving-ip") or "(unknown)"
                fails.append((f["result-type"], mx, clamp(f.get("failed-session-count", 0))))
            # a no-policy-found policy may name none (Postfix 3.10): stored '', unattributed
            dom = (p["policy"].get("policy-domain") or "").lower().rstrip(".")
            pols.append((dom, clamp(s.get("total-successful-session-count", 0)),
                         clamp(s.get("total-failure-session-count", 0)), fails))
        return {"org": d["organization-name"], "rid": d["report-id"], "policies": pols,
                "raw": raw, "content": FACTS.get(data, d)}

    def add(self, raw, source):
        """("stored"|"duplicate"|"conflict", copy key); same content: equal parsed facts (the
        samples) or equal JSON (the reports this script makes)."""
        r = self.parse(raw)
        key = (r["org"], r["rid"])
        copies = self.copies.setdefault(key, [])
        for ck in copies:
            if self.reports[ck]["content"] == r["content"]:
                return "duplicate", ck
        status, key = ("conflict", key + (len(copies),)) if copies else ("stored", key)
        r["counted"] = status == "stored"
        copies.append(key)
        r["source"] = source
        r["ok"] = sum(p[1] for p in r["policies"])
        r["failed"] = sum(p[2] for p in r["policies"])
        self.reports[key] = r
        self.order.append(key)
        return status, key

    def summary(self, domain=None):
        tot = {"reports": 0, "successful_sessions": 0, "failed_sessions": 0}
        by_rt, by_mx, by_rep = {}, {}, {}
        for r in self.counted():
            pols = [p for p in r["policies"] if domain is None or p[0] == domain]
            if domain is not None and not pols:
                continue
            ok = sum(p[1] for p in pols)
            bad = sum(p[2] for p in pols)
            tot["reports"] += 1
            tot["successful_sessions"] += ok
            tot["failed_sessions"] += bad
            rep = by_rep.setdefault(r["org"], [0, 0, 0])
            rep[0] += 1
            rep[1] += ok
            rep[2] += bad
            for p in pols:
                for rt, mx, n in p[3]:
                    by_rt[rt] = by_rt.get(rt, 0) + n
                    by_mx[mx] = by_mx.get(mx, 0) + n
        return tot, by_rt, by_mx, {k: tuple(v) for k, v in by_rep.items()}


def email_reports(raw_message):
    """The report attachments of a message, decoded (what stsd must keep as raw bytes)."""
    out = []
    for part in email.message_from_bytes(raw_message).walk():
        ctype = part.get_content_type()
        name = part.get_filename() or ""
        if ctype in ("application/tlsrpt+gzip", "application/tlsrpt+json") or (
                ctype == "application/octet-stream" and
                (name.endswith(".json") or name.endswith(".json.gz"))):
            out.append(part.get_payload(decode=True))
    return out


def mboxrd(messages):
    """An mbox (mboxrd quoting: '>*From ' lines get one more '>')."""
    buf = b""
    for i, m in enumerate(messages):
        buf += b"From tlsrpt-sender@example.test Mon Jan  1 00:00:%02d 2024\n" % i
        for line in m.replace(b"\r\n", b"\n").split(b"\n"):
            if re.match(rb"^>*From ", line):
                line = b">" + line
            buf += line + b"\n"
        buf += b"\n"
    return buf


def main(t):
    tmp = st.tempdir("stsd-reports-cli-")
    conf = os.path.join(tmp, "stsd.conf")
    with open(conf, "w") as f:
        # DKIM keys of the samples: asked of a loopback resolver that refuses (offline)
        f.write("[server]\nstate_dir = %s\n[checks]\nresolver = %s\n" %
                (os.path.join(tmp, "state"), st.refusing_resolver()))

    def stsd(*args, input=None):
        return st.run([STSD, "reports", "-c", conf] + list(args), timeout=120, input=input)

    def ingest_lines(res):
        """{file-part: (status, id, org, rid)} from ingest output; rejected lines apart."""
        got, rejected = [], []
        for line in res.out.splitlines():
            m = LINE.match(line)
            if m:
                got.append((m.group(6), m.group(1), int(m.group(2)), unq(m.group(4)),
                            unq(m.group(5)), int(m.group(3) or 0)))
            elif line.startswith("rejected "):
                rejected.append(line)
            else:
                t.diag("unexpected line: " + line)
        return got, rejected

    model = Model()
    ids = {}  # (org, rid) -> id stsd gave

    def check_batch(what, res, expect, rc=0):
        """expect: list of (status, key, file-part) in output order."""
        t.is_(res.returncode, rc, "%s: exit status %d" % (what, rc))
        got, rejected = ingest_lines(res)
        t.is_(rejected, [], "%s: nothing rejected" % what)
        ok = len(got) == len(expect)
        for (where, status, rid, org, repid, of), (estatus, key, ewhere) in zip(got, expect):
            if (status, (org, repid), where) != (estatus, key[:2], ewhere):
                ok = False
                t.diag("got %s %s %r at %s; want %s %r at %s" % (status, rid, (org, repid), where,
                                                               estatus, key, ewhere))
            if estatus == "conflict" and of != ids.get(key[:2]):
                ok = False
                t.diag("conflict %r: conflict_of=%s, first copy %s" % (key, of, ids.get(key[:2])))
            if estatus in ("stored", "conflict"):
                ids[key] = rid
            elif ids.get(key) != rid:
                ok = False
                t.diag("duplicate %r has id %s, stored as %s" % (key, rid, ids.get(key)))
        t.ok(ok, "%s: one line per report, stored/duplicate as expected (%d lines)" %
             (what, len(expect)), res)

    # 1. Every sample JSON file, by path.
    files = sorted(glob.glob(os.path.join(DATA, "valid", "*.json")))
    t.ok(len(files) >= 8, "at least the 8 sample reports are in tests/data/tlsrpt/valid")
    expect = []
    for p in files:
        raw = open(p, "rb").read()
        status, key = model.add(raw, "file")
        expect.append((status, key, "file=" + p))
    res = stsd("ingest", *files)
    check_batch("ingest JSON files", res, expect)

    # 2. Gzip: a known report under .json.gz (duplicate) and a new one without a telling
    #    name, recognised by its 1f 8b magic (stored; its raw bytes stay gzip).
    gz_dup = os.path.join(tmp, "copy.json.gz")
    with open(gz_dup, "wb") as f:
        f.write(gzip.compress(open(files[0], "rb").read()))
    d = json.loads(open(os.path.join(DATA, "valid", "phi-google.json"), "rb").read())
    d["report-id"] = "gzip-only-report"
    gz_new_bytes = gzip.compress(json.dumps(d).encode())
    gz_new = os.path.join(tmp, "sniffed.bin")
    with open(gz_new, "wb") as f:
        f.write(gz_new_bytes)
    status, key = model.add(open(gz_dup, "rb").read(), "file")
    expect = [(status, key, "file=" + gz_dup)]
    status, key = model.add(gz_new_bytes, "file")
    expect.append((status, key, "file=" + gz_new))
    res = stsd("ingest", gz_dup, gz_new)
    check_batch("ingest gzip files", res, expect)

    # 3. The three e-mails as one mbox (new), then as a Maildir and singly (duplicates).
    emls = sorted(glob.glob(os.path.join(DATA, "email", "*.eml")))
    t.is_(len(emls), 3, "three sample e-mails")
    msgs = [open(p, "rb").read() for p in emls]
    mbox = os.path.join(tmp, "reports.mbox")
    with open(mbox, "wb") as f:
        f.write(mboxrd(msgs))
    expect = []
    email_raw = {}
    for i, m in enumerate(msgs, 1):
        parts = email_reports(m)
        t.is_(len(parts), 1, "%s holds one report" % os.path.basename(emls[i - 1]))
        status, key = model.add(parts[0], "email")
        email_raw[key] = parts[0]
        expect.append((status, key, "file=%s message=%d" % (mbox, i)))
    t.ok(all(e[0] == "stored" for e in expect), "the e-mailed reports are new reports")
    res = stsd("ingest", mbox)
    check_batch("ingest mbox", res, expect)

    # An mbox with a non-report message between two reports; its body has an mboxrd-quoted
    # ">From " line and an unquoted "From " inside a paragraph (not a separator: no blank
    # line before it).
    note = (b"From: postmaster@example.test\nTo: tlsrpt@example.test\nSubject: note\n\n"
            b"first line\nFrom the postmaster, mid-paragraph\n\nFrom quoted after a blank line\n")
    mixed = os.path.join(tmp, "mixed.mbox")
    with open(mixed, "wb") as f:
        f.write(mboxrd([msgs[0]]) + b"From x@example.test Mon Jan  1 00:00:00 2024\n" +
                note.replace(b"\n\nFrom quoted", b"\n\n>From quoted") + b"\n" +
                mboxrd([msgs[2]]))
    res = stsd("ingest", mixed)
    t.is_(res.returncode, 1, "mixed mbox: exit 1 (one message without a report)")
    k0 = model.add(email_reports(msgs[0])[0], "email")[1]
    k2 = model.add(email_reports(msgs[2])[0], "email")[1]
    # DKIM offline: Google's 2022 key is not fetched; the 2024 signature has expired.
    t.is_(res.out.splitlines(), [
        "duplicate id=%d org=%s report-id=%s file=%s message=1 dkim=temperror d=google.com" % (
            ids[k0], '"%s"' % k0[0] if " " in k0[0] else k0[0], k0[1], mixed),
        "rejected file=%s message=2: no TLS-RPT report in the message" % mixed,
        "duplicate id=%d org=%s report-id=%s file=%s message=3 dkim=fail d=google.com" % (
            ids[k2], '"%s"' % k2[0] if " " in k2[0] else k2[0], k2[1], mixed)],
        "mixed mbox: three messages, split only on 'From ' after a blank line")

    maildir = os.path.join(tmp, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    names = []
    for i, m in enumerate(msgs):
        sub = "cur" if i == 0 else "new"
        name = "17000000%02d.M1P1.host:2,S" % i if sub == "cur" else "17000000%02d.M1P1.host" % i
        with open(os.path.join(maildir, sub, name), "wb") as f:
            f.write(m)
        names.append((os.path.join(maildir, sub, name), m))
    expect = [("duplicate", model.add(email_reports(m)[0], "email")[1], "file=" + p)
              for p, m in names]
    res = stsd("ingest", maildir)
    check_batch("ingest Maildir (cur/ and new/)", res, expect)

    # stdin: one message as an MTA pipes it (with the envelope From line), and a new JSON.
    res = stsd("ingest", "-", input=b"From sender@example.test Mon Jan  1 00:00:00 2024\n" +
               msgs[1])
    check_batch("ingest - (message on stdin)", res,
                [("duplicate", model.add(email_reports(msgs[1])[0], "email")[1], "file=-")])
    d["report-id"] = "stdin-report"
    d["policies"][0]["summary"]["total-failure-session-count"] = 4
    d["policies"][0]["failure-details"] = [
        {"result-type": "certificate-expired", "receiving-mx-hostname": "MX9.Example.COM.",
         "failed-session-count": 4}]
    stdin_json = json.dumps(d, indent=1).encode()
    status, key = model.add(stdin_json, "file")
    res = stsd("ingest", input=stdin_json)
    check_batch("ingest (no PATH: JSON report on stdin)", res, [(status, key, "file=-")])

    # Everything again: only duplicates.
    res = stsd("ingest", *files)
    check_batch("re-ingest JSON files", res,
                [("duplicate", model.add(open(p, "rb").read(), "file")[1], "file=" + p)
                 for p in files])

    # Rejections and a missing path.
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"organization-name": 5}')
    noreport = os.path.join(tmp, "plain.eml")
    with open(noreport, "w") as f:
        f.write("From: a@example.test\nTo: b@example.test\nSubject: hi\n\nno report here\n")
    res = stsd("ingest", bad, noreport)
    t.is_(res.returncode, 1, "ingest of an invalid report exits 1")
    lines = res.out.splitlines()
    t.ok(len(lines) == 2 and lines[0].startswith("rejected file=%s: " % bad) and
         lines[1] == "rejected file=%s: no TLS-RPT report in the message" % noreport,
         "one 'rejected' line per bad input, with the reason", res)
    res = stsd("ingest", os.path.join(tmp, "does-not-exist.json"))
    t.is_(res.returncode, 66, "ingest of a missing path exits 66")
    # A database that cannot be opened: exit 75 (EX_TEMPFAIL), so an MTA pipe defers and
    # retries instead of bouncing. stsd.db is a directory here (root ignores file modes).
    broken = os.path.join(tmp, "broken-state")
    os.makedirs(os.path.join(broken, "stsd.db"))
    bconf = os.path.join(tmp, "broken.conf")
    with open(bconf, "w") as f:
        f.write("[server]\nstate_dir = %s\n" % broken)
    res = st.run([STSD, "reports", "-c", bconf, "ingest", files[0]], timeout=60)
    t.is_(res.returncode, 75, "ingest with an unusable database exits 75 (try again later)")

    # summary --json equals the sums computed here.
    tot, by_rt, by_mx, by_rep = model.summary()
    res = stsd("summary", "--json", *WINDOW)
    t.is_(res.returncode, 0, "summary --json exits 0")
    s = json.loads(res.out)
    t.is_(s["since"], "2000-01-01", "summary since")
    t.is_(s["until"], "2100-01-01", "summary until")
    t.is_({k: s["totals"][k] for k in tot}, tot, "summary totals (reports, sessions)")
    t.is_(s["totals"]["reports"], len(model.counted()), "every distinct report counted once")
    conflicts = len(model.reports) - len(model.counted())
    t.ok(conflicts > 0, "the samples hold copies with other content under one report-id")
    t.is_(s["totals"]["conflicts"], conflicts, "summary totals: conflicts")
    rate = tot["successful_sessions"] / (tot["successful_sessions"] + tot["failed_sessions"])
    t.ok(abs(s["totals"]["success_rate"] - rate) < 1e-5, "success rate %.5f" % rate, s["totals"])
    t.is_({r["result_type"]: r["failed_sessions"] for r in s["by_result_type"]}, by_rt,
          "by_result_type")
    t.is_({r["mx"]: r["failed_sessions"] for r in s["by_mx"]}, by_mx, "by_mx")
    t.is_({r["organization"]: (r["reports"], r["successful_sessions"], r["failed_sessions"])
           for r in s["by_reporter"]}, by_rep, "by_reporter")
    fails = [r["failed_sessions"] for r in s["by_result_type"]]
    t.is_(fails, sorted(fails, reverse=True), "by_result_type sorted by failed sessions")

    # A domain filter and a window that leaves the 2016 RFC example out.
    tot_d, by_rt_d, _, by_rep_d = model.summary("example.com")
    s = json.loads(stsd("summary", "--json", "--domain", "Example.COM.", *WINDOW).out)
    t.is_({k: s["totals"][k] for k in tot_d}, tot_d, "summary --domain example.com totals")
    t.is_({r["result_type"]: r["failed_sessions"] for r in s["by_result_type"]}, by_rt_d,
          "summary --domain example.com by_result_type")
    s = json.loads(stsd("summary", "--json", "--since", "2017-01-01", "--until",
                        "2100-01-01").out)
    rfc = [r for r in model.counted() if r["org"] == "Company-X"]
    t.is_(s["totals"]["reports"], len(model.counted()) - len(rfc),
          "--since 2017-01-01 leaves out the 2016 report")
    s = json.loads(stsd("summary", "--json", "--since", "2016-04-01", "--until",
                        "2016-04-02").out)
    t.is_((s["totals"]["reports"], s["totals"]["failed_sessions"]), (1, 303),
          "[2016-04-01, 2016-04-02) holds just the RFC example")

    # --by groups add up to the totals; CSV parses.
    for by in ("day", "domain", "reporter"):
        s = json.loads(stsd("summary", "--json", "--by", by, *WINDOW).out)
        t.is_((s["by"], sum(g["successful_sessions"] for g in s["groups"]),
               sum(g["failed_sessions"] for g in s["groups"])),
              (by, tot["successful_sessions"], tot["failed_sessions"]),
              "summary --by %s groups add up to the totals" % by)
    s = json.loads(stsd("summary", "--json", "--by", "result", *WINDOW).out)
    t.is_({g["key"]: g["failed_sessions"] for g in s["groups"]}, by_rt,
          "summary --by result groups equal by_result_type")
    res = stsd("summary", "--csv", *WINDOW)
    rows = list(csv.DictReader(io.StringIO(res.out)))
    total = [r for r in rows if r["section"] == "total"]
    t.ok(len(total) == 1 and int(total[0]["reports"]) == tot["reports"] and
         int(total[0]["successful_sessions"]) == tot["successful_sessions"] and
         int(total[0]["failed_sessions"]) == tot["failed_sessions"], "summary --csv total row",
         res.out)
    t.is_({r["key"]: (int(r["reports"]), int(r["successful_sessions"]),
                      int(r["failed_sessions"]))
           for r in rows if r["section"] == "reporter"}, by_rep, "summary --csv reporter rows")
    res = stsd("summary", "--csv", "--by", "day", *WINDOW)
    rows = list(csv.DictReader(io.StringIO(res.out)))
    t.is_(sum(int(r["failed_sessions"]) for r in rows), tot["failed_sessions"],
          "summary --csv --by day adds up")
    res = stsd("summary", *WINDOW)
    t.ok(res.returncode == 0 and "failed sessions      %d" % tot["failed_sessions"] in res.out,
         "summary text shows the failed sessions", res)

    # list: every stored report once, newest first, totals per report; CSV agrees.
    res = stsd("list", "--json", *WINDOW)
    t.is_(res.returncode, 0, "list --json exits 0")
    lst = json.loads(res.out)["reports"]
    t.is_(sorted(r["id"] for r in lst), sorted(ids[k] for k in model.order),
          "list --json has every stored report once")
    byid = {ids[k]: model.reports[k] for k in model.order}
    t.ok(all((r["organization_name"], r["report_id"], r["successful_sessions"],
              r["failed_sessions"], r["source"]) ==
             (byid[r["id"]]["org"], byid[r["id"]]["rid"], byid[r["id"]]["ok"],
              byid[r["id"]]["failed"], byid[r["id"]]["source"]) for r in lst),
         "list --json: organisation, report-id, sessions and source per report")
    t.ok(all((r["conflict_of"] is None) == byid[r["id"]]["counted"] and
             r["counted"] == byid[r["id"]]["counted"] and
             (r["conflict_of"] is None or r["conflict_of"] == ids[model.copies[
                 (r["organization_name"], r["report_id"])][0]]) for r in lst),
         "list --json marks each conflicting copy with the first copy's id")
    starts = [r["start"] for r in lst]
    t.is_(starts, sorted(starts, reverse=True), "list is newest first")
    res = stsd("list", "--csv", *WINDOW)
    rows = list(csv.DictReader(io.StringIO(res.out)))
    t.is_([(int(r["id"]), r["organization_name"], r["report_id"], int(r["successful_sessions"]),
            int(r["failed_sessions"])) for r in rows],
          [(r["id"], r["organization_name"], r["report_id"], r["successful_sessions"],
            r["failed_sessions"]) for r in lst], "list --csv equals list --json")
    res = stsd("list", "--json", "--domain", "example.com", "--limit", "3", *WINDOW)
    want = [ids[k] for k in model.order
            if any(p[0] == "example.com" for p in model.reports[k]["policies"])]
    got = json.loads(res.out)["reports"]
    t.ok(len(got) == min(3, len(want)) and all(r["id"] in want for r in got) and
         all("example.com" in r["policy_domains"] for r in got),
         "list --domain example.com --limit 3", res.out)
    res = stsd("list", *WINDOW)
    t.ok(res.returncode == 0 and res.out.rstrip().endswith("%d reports" % len(model.order)),
         "list text ends with the count", res.out[-200:])

    # show agrees with list; --raw gives back the original bytes.
    all_same = True
    raw_same = True
    for key in model.order:
        rid = ids[key]
        r = model.reports[key]
        res = stsd("show", str(rid), "--json")
        j = json.loads(res.out) if res.returncode == 0 else {}
        pols = j.get("policies", [])
        if (res.returncode != 0 or j.get("organization_name") != r["org"] or
                j.get("report_id") != r["rid"] or len(pols) != len(r["policies"]) or
                sum(p["successful_sessions"] for p in pols) != r["ok"] or
                [len(p["failure_details"]) for p in pols] != [len(p[3]) for p in r["policies"]]):
            all_same = False
            t.diag("show %d: %r" % (rid, res))
        want = email_raw.get(key, r["raw"])
        res = stsd("show", str(rid), "--raw")
        if res.returncode != 0 or res.stdout != want:
            raw_same = False
            t.diag("show %d --raw: %d bytes, want %d" % (rid, len(res.stdout), len(want)))
    t.ok(all_same, "show --json matches the file for every stored report")
    t.ok(raw_same, "show --raw returns the original bytes (JSON, gzip, e-mail part)")
    gzid = ids[(d["organization-name"], "gzip-only-report")]
    j = json.loads(stsd("show", str(gzid), "--json").out)
    t.is_((j["gzip"], j["raw_size"]), (True, len(gz_new_bytes)), "the gzip report is kept gzip")
    res = stsd("show", str(gzid))
    t.ok(res.returncode == 0 and "report-id          gzip-only-report" in res.out,
         "show text", res)
    res = stsd("show", "999999")
    t.is_(res.returncode, 66, "show of an unknown id exits 66")
    res = stsd("show", "abc")
    t.is_(res.returncode, 64, "show of a non-number exits 64")

    # Help and usage.
    for args in (["--help"], ["ingest", "--help"], ["list", "--help"], ["show", "--help"],
                 ["summary", "--help"]):
        res = stsd(*args)
        t.ok(res.returncode == 0 and res.out.startswith("usage: stsd reports"),
             "stsd reports %s" % " ".join(args))
    t.is_(stsd("summary", "--by", "week").returncode, 64, "summary --by week exits 64")
    t.is_(stsd("list", "--since", "yesterday").returncode, 64, "list --since yesterday exits 64")


if __name__ == "__main__":
    st.Tap().run(main)
