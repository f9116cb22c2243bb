"""Helpers for the hostile-client suite (python3 stdlib only; run with Debian's /usr/bin/python3).

Every test here plays an attacker against a *release* build of `stsd serve` on loopback and
asserts a bound from outside the process: peak memory from /proc, CPU time from /proc, the
latency of an ordinary sender's policy fetch while the attack runs, status codes, rows in the
database. Attack loops are bounded in count and time and stop by themselves.

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hostilelib as hl
    st, il = hl.st, hl.il          # stsdtest and the intake helpers

    s = il.server(reports=hl.OPEN_INTAKE)   # rate limit off, 127.0.0.1 not exempt
    probe = hl.GetProbe(s.port).start()     # policy GETs on new TLS connections
    ... attack ...
    lat = probe.stop()                      # list of seconds (None for a failed GET)
    hl.p99(lat), hl.vm_hwm_mb(s.proc.pid), hl.cpu_seconds(s.proc.pid)
"""

import os
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("STSD_SOURCE_ROOT", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests/integration/lib"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests/integration/intake"))
import stsdtest as st  # noqa: E402
import intake_lib as il  # noqa: E402

# [reports] lines for an intake that an attacker on 127.0.0.1 reaches as anyone would: no rate
# limit (so the test measures the cost of the work itself) and loopback not exempt from the
# per-address connection cap (192.0.2.0/32 is TEST-NET-1: no real client comes from it).
OPEN_INTAKE = "rate_limit = 0\nrate_exempt = 192.0.2.0/32\n"


def raise_nofile():
    """Raise this process's soft file limit to the hard one (floods hold many sockets)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def closed_by_server(socks, wait=0.0):
    """How many of the sockets the server has closed (EOF or reset) after `wait` s."""
    time.sleep(wait)
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(65536) == b"":
                n += 1
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except OSError:
            n += 1
    return n


def close_report_stop(t, s, socks, tag):
    """The end of a body flood: close the attacker's sockets, then a report of normal size is
    stored and the server stops cleanly (three TAP lines)."""
    for x in socks:
        x.close()
    time.sleep(0.5)
    r = il.Client(s.port).post(il.report_bytes(tag))
    t.ok(r[0] in (200, 201), "a report of normal size is stored afterwards (%d)" % r[0])
    t.is_(s.stop(), 0, "stops cleanly")


def _status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def vm_hwm_mb(pid):
    """Peak resident set size of a process in MB (VmHWM)."""
    return _status(pid, "VmHWM") / 1024.0


def vm_rss_mb(pid):
    return _status(pid, "VmRSS") / 1024.0


def cpu_seconds(pid):
    """User + system CPU time the process has used so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu(pid):
    """{thread name: CPU seconds} for every thread of pid."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fl = f.read().rsplit(")", 1)[1].split()
            out[name + "/" + tid] = (int(fl[11]) + int(fl[12])) / tck
        except OSError:
            pass
    return out


def percentile(values, q):
    """q-th percentile (0..100) of the values; a None (failed request) counts as infinite."""
    v = sorted(float("inf") if x is None else x for x in values)
    if not v:
        return float("inf")
    k = min(len(v) - 1, max(0, int(round(q / 100.0 * (len(v) - 1)))))
    return v[k]


def p99(values):
    return percentile(values, 99)


def policy_get(port, domain="a.test", cafile=None, timeout=5.0, host="127.0.0.1", source=None):
    """One policy fetch as a sender makes it: new TCP + TLS connection (from `source` if
    given), GET, read the answer. Returns (seconds, status) or (None, error text)."""
    return policy_fetch(port, domain, cafile, timeout, host, source)[:2]


def policy_fetch(port, domain="a.test", cafile=None, timeout=5.0, host="127.0.0.1", source=None):
    """policy_get with the body: (seconds, status, body text) or (None, error text, "")."""
    ctx = ssl.create_default_context(cafile=cafile or il.ca().cert)
    t0 = time.monotonic()
    try:
        r = st.policy_fetch(port, "mta-sts." + domain, ctx, source=source, addr=host,
                            timeout=timeout, want_body=True)
        return time.monotonic() - t0, r[0], r[3]
    except (OSError, ValueError, IndexError) as e:
        return None, str(e), ""


class GetProbe:
    """A background thread fetching the policy every `interval` seconds, as senders do, while an
    attack runs. stop() returns the latencies (None for a failed fetch or a status but 200)."""

    def __init__(self, port, domain="a.test", interval=0.02, cafile=None, host="127.0.0.1"):
        self.port, self.domain, self.interval = port, domain, interval
        self.cafile, self.host = cafile, host
        self.lat = []
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            dt, status = policy_get(self.port, self.domain, self.cafile, host=self.host)
            if dt is None or status != 200:
                self.lat.append(None)
                self.errors.append(status)
            else:
                self.lat.append(dt)
            self._stop.wait(self.interval)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(30)
        return list(self.lat)


def summary(lat):
    """'n=…, failed=…, p50=… ms, p99=… ms, max=… ms' for a diag line."""
    ok = [x for x in lat if x is not None]
    return "n=%d failed=%d p50=%.1f ms p99=%.1f ms max=%.1f ms" % (
        len(lat), len(lat) - len(ok), percentile(lat, 50) * 1000, percentile(lat, 99) * 1000,
        (max(ok) if ok else float("inf")) * 1000)
