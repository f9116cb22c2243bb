"""acmelib - what the ACME end-to-end tests share: an `stsd serve` configured for a pebble (or
any directory), the policy fetched with curl trusting only a given CA, the serve log's events
parsed (logfmt), /metrics parsed, `stsd certs list --json`, and polling."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")), "tests/integration/lib"))
import pebblelib as pl  # noqa: E402,F401 (re-exported for the tests)
import stsdtest as st  # noqa: E402


def policy(d):
    return "version: STSv1\nmode: testing\nmx: mail.%s\nmax_age: 86400\n" % d


def acme_section(directory, ca_file, challenge="http-01", http_listen=None, extra=""):
    lines = ["[acme]", "directory = " + directory, "ca_file = " + ca_file,
             "challenge = " + challenge]
    if http_listen:
        lines.append("http_listen = " + http_listen)
    return "\n".join(lines) + "\n" + extra + "\n"


def serve(domains, acme, certs=None, listen_port=None, admin=True, extra="", start=True,
          threads=2, directory=None, env=None):
    """An Stsd hosting `domains` (policy files written before it starts) with `acme` (an [acme]
    section; see acme_section / Pebble.acme_config) and certs {host: TestCA leaf}. listen_port:
    the TLS port (pebble's tls_port for tls-alpn-01). s.token is the admin token once started."""
    listen = ["127.0.0.1:%d" % listen_port] if listen_port else None
    s = st.Stsd(policies={d: policy(d) for d in domains}, certs=certs, listen=listen,
                admin=admin, extra_config=acme + "\n" + extra, threads=threads,
                directory=directory, env=env)
    if start:
        start_serve(s)
    return s


def start_serve(s, timeout=30.0):
    s.start(timeout=timeout)
    if s.admin_port:
        with open(os.path.join(s.state_dir, "admin.token")) as f:
            s.token = f.read().strip()
    return s


def cli(s, *args, timeout=60):
    """`stsd -c CONFIG args...` (a Result)."""
    return st.run([st.STSD_BIN, "-c", s.config] + list(args), timeout=timeout)


def curl_policy(s, d, cacert, timeout=10):
    """GET https://mta-sts.<d>:<port>/.well-known/mta-sts.txt, curl trusting only `cacert`,
    the name resolved to 127.0.0.1 (--resolve)."""
    return st.curl(s.url(d), cacert=cacert, timeout=timeout,
                   resolve="mta-sts.%s:%d:127.0.0.1" % (d, s.port))


def policy_file(s, d):
    """What serve answers for d: its policy file with CRLF line endings."""
    with open(os.path.join(s.policy_dir, d + ".txt"), "rb") as f:
        return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def cert_file(s, d):
    return os.path.join(s.cert_dir, "mta-sts.%s.pem" % d)


# ---------------------------------------------------------------------------------------------
# The log

_FIELD = re.compile(r'([A-Za-z0-9_.]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_line(line):
    out = {}
    for k, v in _FIELD.findall(line):
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out[k] = v
    return out


def events(s, name=None, this_run=False, prefix=None):
    """The serve log's lines as dicts (logfmt), in order; only event == name, or events that
    start with prefix; this_run: only the lines of the latest start."""
    data = s.log_bytes()
    if this_run:
        data = data[getattr(s, "_log_start", 0):]
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        if "event=" not in line:
            continue
        e = parse_line(line)
        ev = e.get("event", "")
        if (name is None or ev == name) and (prefix is None or ev.startswith(prefix)):
            out.append(e)
    return out


def wait_event(s, name, count=1, timeout=30.0, where=None, this_run=False):
    """Poll the log until `count` events named `name` (matching where(e) when given) are in it;
    the list of them, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in events(s, name, this_run) if where is None or where(e)]
        if len(got) >= count:
            return got
        if time.monotonic() > deadline or s.proc.poll() is not None:
            return None
        time.sleep(0.1)


def wait(pred, timeout, step=0.1):
    """Poll pred() until it returns something true; that value, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# /metrics and `stsd certs list`

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(s):
    """/metrics (the admin token) as {(name, ((label, value), ...sorted)): float}; {} when the
    answer is not 200."""
    r = st.curl("http://127.0.0.1:%d/metrics" % s.admin_port,
                headers=["Authorization: Bearer " + s.token])
    if r.status != 200:
        return {}
    out = {}
    for line in r.body.decode("utf-8", "replace").splitlines():
        m = _SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def metric(m, name, **labels):
    """One sample's value from metrics(); None when absent."""
    return m.get((name, tuple(sorted(labels.items()))))


def certs_list(s):
    """`stsd certs list --json`, parsed; None when it fails (the Result in certs_list.last)."""
    r = cli(s, "certs", "list", "--json")
    certs_list.last = r
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.out)
    except ValueError:
        return None


def certs_entry(listing, name):
    """The entry for `name` (mta-sts.<d> or <d>) in a certs list --json answer."""
    if listing is None:
        return None
    items = listing.get("certificates", listing) if isinstance(listing, dict) else listing
    for e in items or []:
        if isinstance(e, dict) and name in (e.get("name"), e.get("domain"),
                                            "mta-sts." + str(e.get("domain"))):
            return e
    return None


class Watch:
    """A thread that reads a serve's log every 50 ms and notes the wall time each acme.* event
    was first seen (the log has no times): w.seen() -> [(event dict, time.time())]. The times
    are late by at most the poll interval plus the time the log took to be written."""

    def __init__(self, s, prefix="acme."):
        import threading
        self.s = s
        self.prefix = prefix
        self._seen = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()
        st.Cleanup.add(self.stop)

    def _run(self):
        while not self._stop.is_set():
            got = events(self.s, prefix=self.prefix)
            now = time.time()
            with self._lock:
                # a restart appends to the log: indexes stay stable
                for e in got[len(self._seen):]:
                    self._seen.append((e, now))
            self._stop.wait(0.05)

    def seen(self, where=None):
        with self._lock:
            return [x for x in self._seen if where is None or where(x[0])]

    def wait(self, where, count=1, timeout=30.0):
        """Poll until `count` events match where(e); those [(e, t)], or None at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.seen(where)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
