"""adminlib - helpers shared by the admin listener tests (python3 stdlib only).

The sample reports are the real-sender JSON files in tests/data/tlsrpt/valid (see SOURCES.md
there); `expected()` computes from those files, with python's json, the numbers stsd must
show, independently of stsd.
"""

import glob
import html.parser
import http.client
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

STSD = os.environ["STSD_BIN"]
DATA = os.path.join(os.environ["STSD_TEST_DATA"], "tlsrpt", "valid")
SAMPLES = sorted(glob.glob(os.path.join(DATA, "phi-*.json")) +
                 glob.glob(os.path.join(DATA, "parsedmarc-*.json")))

POLICIES = {
    "example.com": "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n",
    "company-y.example": "version: STSv1\nmode: enforce\nmx: *.mail.company-y.example\n"
                         "max_age: 604800\n",
}
# The sessions of these windows hold every sample (2016 .. 2024).
SINCE, UNTIL = "2010-01-01", "2030-01-01"


def mx_key(d):
    h = (d.get("receiving-mx-hostname") or "").lower().rstrip(".")
    return h or d.get("receiving-ip") or "(unknown)"


def expected(files=SAMPLES):
    """Per-domain and overall numbers from the files: each (organization, report-id) counts
    once, the first file in `files` order (the order `stsd reports ingest` stores); a later
    file with other parsed content (its .expect) is a conflict: stored, not counted."""
    seen = {}
    facts = {}  # key -> the parsed facts (.expect) of every copy stored under it
    conflicts = []  # (key, file, raw, r): later copies with other content, stored uncounted
    for f in files:
        with open(f, "rb") as fh:
            raw = fh.read()
        r = json.loads(raw)
        key = (r["organization-name"], r["report-id"])
        expect = f[:-len(".json")] + ".expect"  # the samples' parsed facts, else the JSON
        if os.path.exists(expect):
            with open(expect, "rb") as fh:
                fact = fh.read()
        else:
            fact = json.dumps(r, sort_keys=True).encode()
        if key not in seen:
            seen[key] = (f, raw, r)
            facts[key] = [fact]
        elif fact not in facts[key]:
            facts[key].append(fact)
            conflicts.append((key, f, raw, r))
    dom = {}
    total = {"reports": 0, "successful": 0, "failed": 0}
    for f, raw, r in seen.values():
        total["reports"] += 1
        day = r["date-range"]["start-datetime"][:10]
        counted = set()
        for p in r["policies"]:
            d = p["policy"]["policy-domain"].lower().rstrip(".")
            e = dom.setdefault(d, {"reports": 0, "successful": 0, "failed": 0, "days": {},
                                   "by_result": {}, "by_mx": {}, "by_reporter": {}})
            ok = p["summary"]["total-successful-session-count"]
            bad = p["summary"]["total-failure-session-count"]
            total["successful"] += ok
            total["failed"] += bad
            if d not in counted:
                e["reports"] += 1
                counted.add(d)
                rep = e["by_reporter"].setdefault(r["organization-name"], [0, 0, 0])
                rep[0] += 1
            e["successful"] += ok
            e["failed"] += bad
            dd = e["days"].setdefault(day, [0, 0])
            dd[0] += ok
            dd[1] += bad
            rep = e["by_reporter"][r["organization-name"]]
            rep[1] += ok
            rep[2] += bad
            for fd in p.get("failure-details") or []:
                n = fd["failed-session-count"]
                rt = fd["result-type"]
                e["by_result"][rt] = e["by_result"].get(rt, 0) + n
                m = mx_key(fd)
                e["by_mx"][m] = e["by_mx"].get(m, 0) + n
    return {"domains": dom, "total": total, "stored": seen, "conflicts": conflicts}


def start(tmp_extra="", certs=None, policies=None, ingest=True, env=None):
    """An Stsd with the admin listener, the sample reports ingested before it starts, and
    the self-checks off unless extra config turns them on."""
    s = st.Stsd(policies=POLICIES if policies is None else policies, certs=certs, admin=True,
                extra_config=tmp_extra or "[checks]\ninterval = off\n", env=env)
    if ingest:
        r = st.run([STSD, "-c", s.config, "reports", "ingest"] + SAMPLES, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("ingest failed: %s %s" % (r.out, r.err))
    s.start()
    with open(os.path.join(s.state_dir, "admin.token")) as f:
        s.token = f.read().strip()
    return s


def get(s, path, token=None, headers=None, method="GET", body=None, timeout=30):
    """One plain-HTTP request to the admin listener: (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", s.admin_port, timeout=timeout)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def get_json(s, path, token=None):
    status, h, body = get(s, path, token=token if token is not None else s.token)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


class Receiver:
    """A webhook receiver on 127.0.0.1:port: calls = [(monotonic time, path, Content-Type,
    JSON body)], answered 200."""

    def __init__(self, port):
        self.calls = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    j = json.loads(body)
                except ValueError:
                    j = {"unparsable": body.decode("latin-1")}
                outer.calls.append((time.monotonic(), self.path,
                                    self.headers.get("Content-Type"), j))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        st.Cleanup.add(self.stop)

    def kinds(self, kind):
        return [c for c in self.calls if c[3].get("kind") == kind]

    def wait(self, kind, n=1, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.kinds(kind)) >= n:
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def chromium(args, timeout=90):
    """Run headless Chromium in its own session and profile; kill the whole group after."""
    prof = tempfile.mkdtemp(prefix="stsd-chromium-")
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--user-data-dir=" + prof] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timeout"
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        shutil.rmtree(prof, True)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


class Page(html.parser.HTMLParser):
    """Every tag name and src/href of a page; subclasses extend handle_starttag (calling
    this one first) and get the attributes as a dict."""

    def __init__(self):
        super().__init__()
        self.tags = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k in ("src", "href"):
            if k in a:
                self.links.append(a[k])
        self.start(tag, a)

    def start(self, tag, a):
        pass


class WebDriver:
    """Debian's chromedriver driving headless Chromium over the W3C WebDriver protocol
    (JSON over HTTP, python's http.client): a real browser that fills in and submits forms.

        with WebDriver() as b:
            b.go(url); b.type("input[name=domain]", "a.test"); b.click("form button")
            b.url(), b.source(), b.cookies()
    """

    def __init__(self, timeout=60):
        self.port = st.free_port()
        self.prof = tempfile.mkdtemp(prefix="stsd-webdriver-")
        self.timeout = timeout
        self.proc = subprocess.Popen(["chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        st.Cleanup.add(self.close)
        for _ in range(200):
            try:
                self._req("GET", "/status")
                break
            except OSError:
                time.sleep(0.05)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + self.prof]
        v = self._req("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})
        self.sid = v["sessionId"]

    def _req(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read() or b"{}")
        c.close()
        if r.status != 200:
            raise RuntimeError("webdriver %s %s: %s %s" % (method, path, r.status, data))
        return data.get("value")

    def _s(self, method, path, body=None):
        return self._req(method, "/session/%s%s" % (self.sid, path), body)

    def go(self, url):
        self._s("POST", "/url", {"url": url})

    def url(self):
        return self._s("GET", "/url")

    def url_after(self, old, timeout=20):
        """The URL once the browser has left `old` (a click's navigation may still be under
        way when the click returns), or `old` after timeout seconds."""
        end = time.monotonic() + timeout
        u = self.url()
        while u == old and time.monotonic() < end:
            time.sleep(0.05)
            u = self.url()
        return u

    def source(self):
        return self._s("GET", "/source")

    def cookies(self):
        return self._s("GET", "/cookie")

    def find(self, css):
        v = self._s("POST", "/element", {"using": "css selector", "value": css})
        return list(v.values())[0]

    def type(self, css, text, clear=True):
        e = self.find(css)
        if clear:
            self._s("POST", "/element/%s/clear" % e, {})
        self._s("POST", "/element/%s/value" % e, {"text": text})

    def click(self, css):
        self._s("POST", "/element/%s/click" % self.find(css), {})

    def close(self):
        if getattr(self, "sid", None):
            try:
                self._s("DELETE", "")
            except (OSError, RuntimeError):
                pass
            self.sid = None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.prof, True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
