#!/usr/bin/env python3
"""scripts/demo.sh's examples work exactly as printed.

The demo runs as a person would start it (bash scripts/demo.sh), with its directory, ports and
binary taken from the environment (DEMO_DIR, DEMO_PORT, DEMO_ADMIN_PORT, DEMO_STSD). Every
example it prints after "In another shell:" is a comment saying what it answers and one
command; each command runs as printed (bash, from another directory) and must answer what its
comment says:

- "answers HTTP NNN": the status line curl -i prints (the dashboard address: fetched as a
  browser would, the status first, then the page the redirect leads to with its cookie);
- "the same again: NNN": running the command a second time;
- "N successful and M failed sessions": in the output of the command.

At the end the demo's server stops on SIGTERM with status 0.
"""
import http.client
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402


def start_demo(t):
    d = st.tempdir("stsd-demo-")
    port = admin_port = st.free_port()
    while admin_port == port:
        admin_port = st.free_port()
    env = dict(os.environ, DEMO_DIR=os.path.join(d, "demo"), DEMO_PORT=str(port),
               DEMO_ADMIN_PORT=str(admin_port), DEMO_STSD=st.STSD_BIN)
    err = open(os.path.join(d, "stderr"), "wb")
    p = subprocess.Popen(["bash", os.path.join(st.SOURCE_ROOT, "scripts", "demo.sh")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
                         cwd=d, start_new_session=True)
    st.Cleanup.add(st._kill_proc, p)
    lines = queue.Queue()

    def reader():
        for raw in p.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        lines.put(None)
    threading.Thread(target=reader, daemon=True).start()
    return p, port, admin_port, lines, d


def examples(lines, timeout=60):
    """(comment, command) pairs printed after "In another shell:", read until the demo has
    printed its last example (the dashboard address)."""
    out, started, comment = [], False, None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        if "In another shell:" in line:
            started = True
            continue
        if not started or not line.strip():
            continue
        s = line.strip()
        if s.startswith("#"):
            comment = s
        else:
            out.append((comment, s))
            comment = None
            if s.startswith("http://"):
                break
    return out


def bash(cmd, cwd):
    return st.run(["bash", "-c", cmd], timeout=60, cwd=cwd)


def status_line(out):
    m = re.match(r"HTTP/[0-9.]+ (\d{3})", out)
    return int(m.group(1)) if m else None


def browse(t, url, what):
    """The dashboard address as a browser opens it: the answer, then (a redirect) the page it
    leads to with the cookie it set."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = c.getresponse()
    r.read()
    status, location, cookie = r.status, r.getheader("Location"), r.getheader("Set-Cookie")
    c.close()
    if location and cookie:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        c.request("GET", urllib.parse.urljoin(u.path, location),
                  headers={"Cookie": cookie.split(";")[0]})
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        t.ok(r.status == 200 and "example.com" in body,
             "%s: the redirect leads to the dashboard (200, it names example.com)" % what,
             (r.status, body[:500]))
        c.close()
    return status


def main(t):
    p, port, admin_port, lines, d = start_demo(t)
    ex = examples(lines)
    if not t.ok(len(ex) >= 4 and all(c for c, _ in ex),
                "the demo prints its examples, each with a comment saying what it answers", ex):
        t.diag(open(os.path.join(d, "stderr"), errors="replace").read()[-3000:])
    t.ok(st.wait_port("127.0.0.1", port, 30, p) and
         st.wait_port("127.0.0.1", admin_port, 30, p), "the demo's server listens")
    elsewhere = st.tempdir("stsd-demo-shell-")  # "in another shell": not the repository
    checked = 0
    for comment, cmd in ex:
        what = cmd[:60]
        want = re.search(r"answers HTTP (\d{3})", comment)
        again = re.search(r"the same again: (\d{3})", comment)
        sessions = re.search(r"(\d+) successful and (\d+) failed sessions", comment)
        if cmd.startswith("http://"):
            t.ok(want, "%s: the comment names the answer" % what, comment)
            got = browse(t, cmd, what)
            t.is_(got, int(want.group(1)) if want else None, "%s: %s" % (what, comment))
            checked += 1
            continue
        r = bash(cmd, elsewhere)
        if want:
            t.is_(status_line(r.out), int(want.group(1)), "%s: %s" % (what, comment))
            checked += 1
            if "mta-sts.txt" in cmd:
                t.ok("mode: testing" in r.out and "mx: mail.example.com" in r.out,
                     "%s: the body is the demo policy" % what, r)
        if again:
            r2 = bash(cmd, elsewhere)
            t.is_(status_line(r2.out), int(again.group(1)), "%s: run again" % what)
            t.ok('"duplicate"' in r2.out, "%s: run again: a duplicate" % what, r2)
        if sessions:
            t.is_(r.returncode, 0, "%s: exit 0" % what)
            got = (re.search(r"successful sessions\s+(\d+)", r.out),
                   re.search(r"failed sessions\s+(\d+)", r.out))
            t.is_(tuple(int(m.group(1)) if m else None for m in got),
                  (int(sessions.group(1)), int(sessions.group(2))),
                  "%s: %s" % (what, comment))
            checked += 1
    t.is_(checked, len(ex), "every example printed was run and checked")
    rc = st._kill_proc(p, timeout=15)
    t.is_(rc, 0, "the demo's server stops on SIGTERM with status 0")
    if rc != 0:
        t.diag(open(os.path.join(d, "stderr"), errors="replace").read()[-3000:])


if __name__ == "__main__":
    st.Tap().run(main)
