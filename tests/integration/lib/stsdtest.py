"""stsdtest - the helpers every stsd integration test shares (python3 stdlib only).

Import it from a test script with:

    import os, sys
    sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
    import stsdtest as st

What it offers (each documented below):
    Tap              TAP output: ok/is_/diag, plan printed at the end, exit status
    Cleanup          LIFO cleanup actions run at exit, also on SIGTERM and exceptions
    tempdir()        a temporary directory removed at exit
    free_port()      a free TCP port on a loopback address
    run()            run a command with a timeout, capture output, never raise
    TestCA           test CA + leaf certificates with the openssl CLI (ECDSA P-256)
    Stsd             start/stop `stsd serve` with a temp state dir and config
    Unbound          a real unbound serving local-data records on a loopback port
    NetNS            a network namespace with its own loopback and resolv.conf
    curl()           one HTTPS request with curl: status, headers, body
    parse_h2load()   the request and status counts of h2load's summary
    background_server()  a python socketserver run from a thread until stop_server()/exit
    dns_query()      a minimal DNS query over UDP (readiness checks, simple asserts)

Network traffic stays on loopback (127.0.0.0/8, ::1). Nothing here reads /work/shared.
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

STSD_BIN = os.environ.get("STSD_BIN", "stsd")
SOURCE_ROOT = os.environ.get("STSD_SOURCE_ROOT", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..")))
TEST_DATA = os.environ.get("STSD_TEST_DATA", os.path.join(SOURCE_ROOT, "tests", "data"))


# ---------------------------------------------------------------------------------------------
# TAP


class Tap:
    """TAP producer. Call ok()/is_() for each check, then `sys.exit(t.done())`.

    The plan (1..N) is printed at the end, which meson's TAP parser accepts. Pass `plan` to
    print it first instead. A Python exception escaping the test becomes a "not ok" line
    (see Tap.run)."""

    def __init__(self, plan=None):
        self.n = 0
        self.failed = 0
        self.plan = plan
        if plan is not None:
            print("1..%d" % plan, flush=True)

    def ok(self, cond, what, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, what), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, what), flush=True)
            if diag is not None:
                self.diag(diag)
        return bool(cond)

    def is_(self, got, want, what):
        """ok() when got == want; prints both on failure."""
        return self.ok(got == want, what, "got:  %r\nwant: %r" % (got, want))

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def done(self):
        if self.plan is None:
            print("1..%d" % self.n, flush=True)
        elif self.plan != self.n:
            print("# planned %d tests, ran %d" % (self.plan, self.n), flush=True)
            return 1
        return 1 if self.failed else 0

    def run(self, main):
        """Run main(self), turning an exception into a failed test; exits the process."""
        try:
            main(self)
        except Exception as e:  # a crash in the test is a failure, never a pass
            import traceback
            self.ok(False, "test script raised %s: %s" % (type(e).__name__, e),
                    traceback.format_exc())
        sys.exit(self.done())


# ---------------------------------------------------------------------------------------------
# Cleanup


class Cleanup:
    """Process-wide LIFO list of cleanup actions, run at exit (also on SIGTERM/SIGINT,
    which are turned into SystemExit so that atexit handlers run)."""

    actions = []
    installed = False

    @classmethod
    def add(cls, fn, *args):
        if not cls.installed:
            cls.installed = True
            atexit.register(cls.run_all)
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(s, cls._on_signal)
        cls.actions.append((fn, args))

    @staticmethod
    def _on_signal(signum, frame):
        raise SystemExit(128 + signum)

    @classmethod
    def run_all(cls):
        while cls.actions:
            fn, args = cls.actions.pop()
            try:
                fn(*args)
            except Exception as e:
                print("# cleanup %r failed: %s" % (fn, e), flush=True)


def tempdir(prefix="stsdtest-"):
    """A new temporary directory, removed at exit unless STSD_KEEP_TMP is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("STSD_KEEP_TMP"):
        Cleanup.add(shutil.rmtree, d, True)
    return d


def free_port(host="127.0.0.1"):
    """A TCP port that is free on host right now (bound once with port 0, then released)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0, proc=None):
    """Wait until a TCP connect to host:port succeeds. False on timeout or if proc died."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Result:
    """Outcome of run(): returncode (None on timeout), stdout, stderr (bytes), timed_out."""

    def __init__(self, returncode, stdout, stderr, timed_out):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return "Result(rc=%r, timed_out=%r, stdout=%r, stderr=%r)" % (
            self.returncode, self.timed_out, self.stdout[:2000], self.stderr[:2000])


def run(cmd, timeout=30, input=None, env=None, cwd=None):
    """Run cmd (a list), capturing stdout/stderr as bytes. Never raises for a non-zero exit;
    on timeout the process group is killed and Result.timed_out is True."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                         start_new_session=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
        return Result(p.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        return Result(None, out, err, True)


def _kill_proc(p, sig=signal.SIGTERM, timeout=5.0):
    """Stop a Popen (its process group), escalating to SIGKILL."""
    if p.poll() is not None:
        return p.returncode
    try:
        os.killpg(p.pid, sig)
    except OSError:
        p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            p.kill()
        return p.wait()


# ---------------------------------------------------------------------------------------------
# Certificates


class TestCA:
    """A throw-away CA made with the openssl CLI (ECDSA P-256 keys, SHA-256).

        ca = TestCA(dir)                      # root CA: ca.cert, ca.key
        leaf = ca.issue("mta-sts.a.test")     # dict: cert, key, pem (chain+key), chain
        ca.issue("x.test", sans=["x.test", "*.x.test"], days=-1)       # expired
        ca.issue("x.test", not_before_days=2)                            # not yet valid
        ca.issue("x.test", intermediate=True)  # signed by an intermediate; chain includes it
        ca.self_signed("x.test")               # not signed by this CA
        ca.install(leaf, cert_dir, "mta-sts.a.test")          # <name>.pem (chain + key)
        ca.install(leaf, cert_dir, "mta-sts.a.test", split=True)  # <name>.crt + <name>.key

    ca.cert is the file to give curl --cacert / SSL_CERT_FILE.
    """

    def __init__(self, directory, name="stsd test CA"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "ca.crt")
        self._serial = random.randrange(1 << 40, 1 << 48)
        self._genkey(self.key)
        self._ssl(["req", "-x509", "-new", "-key", self.key, "-subj", "/CN=" + name,
                   "-days", "3650", "-sha256", "-out", self.cert,
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._inter = None

    @staticmethod
    def _ssl(args):
        r = run(["openssl"] + args, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.err))
        return r

    def _genkey(self, path):
        self._ssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", path])
        os.chmod(path, 0o600)

    def _next_serial(self):
        self._serial += 1
        return "%012x" % self._serial

    @staticmethod
    def _asn1time(offset_days):
        t = time.gmtime(time.time() + offset_days * 86400)
        return time.strftime("%Y%m%d%H%M%SZ", t)

    def _sign(self, csr, out, issuer_cert, issuer_key, ext, not_before_days, days):
        """Sign csr with `openssl ca` (the only 3.0 command that sets both validity ends)."""
        work = tempfile.mkdtemp(dir=self.dir)
        try:
            open(os.path.join(work, "index.txt"), "w").close()
            with open(os.path.join(work, "serial"), "w") as f:
                f.write(self._next_serial() + "\n")
            cnf = os.path.join(work, "ca.cnf")
            with open(cnf, "w") as f:
                f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
                        "serial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\n"
                        "[p]\ncommonName=supplied\n[ext]\n%s\n" % (work, work, work, ext))
            self._ssl(["ca", "-batch", "-notext", "-config", cnf, "-in", csr, "-out", out,
                       "-cert", issuer_cert, "-keyfile", issuer_key, "-extensions", "ext",
                       "-startdate", self._asn1time(not_before_days),
                       "-enddate", self._asn1time(not_before_days + days)])
        finally:
            shutil.rmtree(work, True)

    def _intermediate(self):
        if self._inter is None:
            key = os.path.join(self.dir, "inter.key")
            crt = os.path.join(self.dir, "inter.crt")
            csr = os.path.join(self.dir, "inter.csr")
            self._genkey(key)
            self._ssl(["req", "-new", "-key", key, "-subj", "/CN=stsd test intermediate",
                       "-out", csr])
            self._sign(csr, crt, self.cert, self.key,
                       "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                       "keyUsage=critical,keyCertSign,cRLSign", -1, 3650)
            self._inter = (crt, key)
        return self._inter

    def issue(self, cn, sans=None, days=90, not_before_days=-1, intermediate=False,
              name=None):
        """Issue a leaf for cn (SANs default to [cn]). Validity runs from now+not_before_days
        for `days` days: days=-1 with the default start gives an expired certificate,
        not_before_days=2 one that is not yet valid. Returns a dict with the paths: cert
        (leaf only), chain (leaf + intermediate if any), key, pem (chain + key)."""
        name = name or cn.replace("*", "_")
        base = os.path.join(self.dir, name)
        key, csr, crt = base + ".key", base + ".csr", base + ".crt"
        self._genkey(key)
        self._ssl(["req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr])
        sans = sans or [cn]
        ext = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=serverAuth\nsubjectAltName=" +
               ",".join(("IP:" + s[3:]) if s.startswith("IP:") else "DNS:" + s for s in sans))
        if not_before_days == -1 and days < 0:
            not_before_days = days - 1  # expired: ended |days| days ago
            days = 1
        if intermediate:
            icrt, ikey = self._intermediate()
            self._sign(csr, crt, icrt, ikey, ext, not_before_days, days)
        else:
            self._sign(csr, crt, self.cert, self.key, ext, not_before_days, days)
        return self._finish(base, crt, key, [self._intermediate()[0]] if intermediate else [])

    def self_signed(self, cn, sans=None, days=90):
        """A self-signed leaf (not trusted by this CA)."""
        base = os.path.join(self.dir, cn.replace("*", "_") + ".self")
        key, crt = base + ".key", base + ".crt"
        self._genkey(key)
        sans = sans or [cn]
        self._ssl(["req", "-x509", "-new", "-key", key, "-subj", "/CN=" + cn, "-days",
                   str(days), "-out", crt, "-addext",
                   "subjectAltName=" + ",".join("DNS:" + s for s in sans)])
        return self._finish(base, crt, key, [])

    @staticmethod
    def _finish(base, crt, key, extra):
        chain = base + ".chain.pem"
        pem = base + ".pem"
        with open(chain, "wb") as f:
            for p in [crt] + extra:
                f.write(open(p, "rb").read())
        with open(pem, "wb") as f:
            f.write(open(chain, "rb").read())
            f.write(open(key, "rb").read())
        os.chmod(pem, 0o600)
        return {"cert": crt, "chain": chain, "key": key, "pem": pem}

    @staticmethod
    def install(leaf, cert_dir, hostname, split=False):
        """Copy a leaf into an stsd cert_dir as <hostname>.pem, or .crt + .key (0600)."""
        os.makedirs(cert_dir, exist_ok=True)
        if split:
            shutil.copyfile(leaf["chain"], os.path.join(cert_dir, hostname + ".crt"))
            k = os.path.join(cert_dir, hostname + ".key")
            shutil.copyfile(leaf["key"], k)
            os.chmod(k, 0o600)
        else:
            p = os.path.join(cert_dir, hostname + ".pem")
            shutil.copyfile(leaf["pem"], p)
            os.chmod(p, 0o600)


# ---------------------------------------------------------------------------------------------
# stsd serve


class Stsd:
    """`stsd serve` with a temporary state directory and config.

        s = Stsd(policies={"a.test": "version: STSv1\\n..."}, certs={"mta-sts.a.test": leaf})
        s.start()                 # waits until the HTTPS port accepts connections
        s.port, s.admin_port, s.state_dir, s.log()
        s.hup(); s.stop()         # stop() returns the exit status

    Options: threads (default 2), extra_config (text appended to the INI file; a section
    header in it starts a new section), listen (list of "host:port"; default one free port
    on 127.0.0.1), admin (True: [admin] listen on a free port, False: off), netns (run inside
    `ip netns exec NAME`), env (extra environment), checks (False: [checks] interval = off,
    so no scheduled self-check queries the system resolver). stderr goes to <dir>/stsd.log.
    The process is stopped at exit in any case.
    """

    def __init__(self, policies=None, certs=None, threads=2, extra_config="", listen=None,
                 admin=False, directory=None, netns=None, env=None, checks=False):
        self.dir = directory or tempdir("stsd-serve-")
        self.state_dir = os.path.join(self.dir, "state")
        self.policy_dir = os.path.join(self.state_dir, "policies")
        self.cert_dir = os.path.join(self.state_dir, "certs")
        os.makedirs(self.policy_dir, exist_ok=True)
        os.makedirs(self.cert_dir, exist_ok=True)
        for d, text in (policies or {}).items():
            self.write_policy(d, text)
        for host, leaf in (certs or {}).items():
            TestCA.install(leaf, self.cert_dir, host)
        if listen is None:
            self.port = free_port()
            listen = ["127.0.0.1:%d" % self.port]
        else:
            self.port = int(listen[0].rsplit(":", 1)[1])
        self.listen = listen
        self.admin_port = free_port() if admin else None
        self.netns = netns
        self.env = env
        self.config = os.path.join(self.dir, "stsd.conf")
        lines = ["[server]"] + ["listen = " + l for l in listen] + [
            "state_dir = " + self.state_dir, "threads = %d" % threads, "[admin]",
            "listen = " + ("127.0.0.1:%d" % self.admin_port if admin else "off")]
        if not checks:
            # no scheduled self-checks: they would ask the system resolver about test names
            lines += ["[checks]", "interval = off"]
            if netns is None:
                # DNS that stsd does on its own (DKIM keys of e-mailed reports) stays on
                # loopback and fails at once; a test that needs answers sets its resolver.
                lines += ["resolver = " + refusing_resolver()]
        # The sample reports are years old: [reports] keep would prune them at start. A test
        # of pruning sets keep in extra_config (a later line wins).
        lines += ["[reports]", "keep = off"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + extra_config + "\n")
        self.logfile = os.path.join(self.dir, "stsd.log")
        self.proc = None

    def write_policy(self, domain, text, raw=False):
        """Write <policies>/<domain>.txt (text str or bytes) atomically (rename)."""
        p = os.path.join(self.policy_dir, domain + ".txt")
        tmp = p + ".tmp~"
        with open(tmp, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        os.rename(tmp, p)
        return p

    def remove_policy(self, domain):
        os.unlink(os.path.join(self.policy_dir, domain + ".txt"))

    def start(self, wait=True, timeout=15.0, args=()):
        cmd = [STSD_BIN, "serve", "-c", self.config] + list(args)
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        env = dict(os.environ)
        env.update(self.env or {})
        self._log = open(self.logfile, "ab")
        self._log_start = self._log.tell()  # a restart appends: look only at this run's lines
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=env, start_new_session=True)
        Cleanup.add(self._cleanup)
        if wait and not self.wait_ready(timeout):
            raise RuntimeError("stsd serve did not start listening on %s:\n%s" %
                               (self.listen[0], self.log()))
        return self

    def wait_ready(self, timeout=15.0):
        """Wait until this run's log says the server is ready (event=serve.ready). With
        certificates, also wait for the reload that indexes them once the background warm-up
        has decoded them (why=sans), so that tests counting reloads start from a quiet server."""
        deadline = time.monotonic() + timeout
        ready_at = None
        while time.monotonic() < deadline:
            run = self.log_bytes()[getattr(self, "_log_start", 0):].decode("utf-8", "replace")
            if "event=serve.ready" in run:
                ready_at = ready_at or time.monotonic()
                m = re.search(r"event=policy\.reload why=start .*?\bcerts=(\d+)", run)
                # no warm-up reload comes for certificates that all fail to decode: 3 s at most
                if (m is None or int(m.group(1)) == 0 or "why=sans" in run or
                        time.monotonic() - ready_at > 3.0):
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def log_bytes(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, needle, timeout=10.0, count=1):
        """Wait until `needle` appears `count` times in the log; True/False."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(needle) >= count:
                return True
            time.sleep(0.05)
        return False

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait; returns the exit status (None if it had to be SIGKILLed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_proc(self.proc, signal.SIGKILL)
                return None
        return self.proc.returncode

    def _cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            _kill_proc(self.proc, signal.SIGKILL)
        if getattr(self, "_log", None):
            self._log.close()

    def url(self, domain, path="/.well-known/mta-sts.txt"):
        return "https://mta-sts.%s:%d%s" % (domain, self.port, path)


# ---------------------------------------------------------------------------------------------
# DNS


class Unbound:
    """A real unbound on a loopback address serving local-data records.

        u = Unbound(["_mta-sts.a.test. TXT \\"v=STSv1; id=1\\"", "mta-sts.a.test. A 127.0.0.1"])
        u.start()     # waits until it answers; u.addr, u.port
        "--resolver %s@%d" % (u.addr, u.port)

    zones: local zones and their types (default {"test.": "static"}: names under test. that
    have no record answer NXDOMAIN, no upstream is ever asked). records are unbound
    local-data strings. netns: run inside `ip netns exec NAME`.
    """

    def __init__(self, records, zones=None, addr="127.0.0.1", port=None, netns=None,
                 directory=None, extra=""):
        self.dir = directory or tempdir("stsd-unbound-")
        self.addr = addr
        self.port = port or free_port(addr)
        self.netns = netns
        self.conf = os.path.join(self.dir, "unbound.conf")
        zones = zones if zones is not None else {"test.": "static"}
        lines = ["server:",
                 "  interface: %s" % addr,
                 "  port: %d" % self.port,
                 "  do-daemonize: no",
                 "  username: \"\"",
                 "  chroot: \"\"",
                 "  directory: \"%s\"" % self.dir,
                 "  pidfile: \"\"",
                 "  use-syslog: no",
                 "  logfile: \"\"",
                 "  verbosity: 1",
                 "  do-ip6: %s" % ("yes" if ":" in addr else "no"),
                 "  do-not-query-localhost: no",
                 "  module-config: \"iterator\"",
                 "  access-control: 127.0.0.0/8 allow",
                 "  access-control: ::1 allow",
                 "  num-threads: 1",
                 "  so-reuseport: no"]
        for z, typ in zones.items():
            lines.append("  local-zone: \"%s\" %s" % (z, typ))
        for r in records:
            lines.append("  local-data: '%s'" % r)
        lines.append(extra)
        lines += ["remote-control:", "  control-enable: no"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.logfile = os.path.join(self.dir, "unbound.log")
        self.proc = None

    def start(self, timeout=10.0, probe=None):
        """Start and wait until a query (probe name, default the first record's owner)
        gets any answer."""
        cmd = ["unbound", "-d", "-c", self.conf]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self._log = open(self.logfile, "ab")
        self._log_start = self._log.tell()  # a restart appends: look only at this run's lines
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, start_new_session=True)
        Cleanup.add(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.netns:
                # our own process is outside the namespace: ask from inside it
                r = run(["ip", "netns", "exec", self.netns, sys.executable, __file__,
                         "dnsprobe", self.addr, str(self.port)], timeout=5)
                if r.returncode == 0:
                    return self
            elif dns_query(self.addr, self.port, probe or "probe.test.", "A",
                           timeout=0.5) is not None:
                return self
            time.sleep(0.05)
        raise RuntimeError("unbound did not start:\n" + open(self.logfile).read())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            _kill_proc(self.proc)
        if getattr(self, "_log", None):
            self._log.close()


_refusing = None


def refusing_resolver():
    """"127.0.0.1@PORT" of a DNS server (a thread of this process) that answers every query
    with REFUSED at once: a machine whose resolver will not help, without waiting for
    timeouts and without a packet leaving loopback."""
    global _refusing
    if _refusing is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))

        def serve():
            while True:
                try:
                    q, peer = sock.recvfrom(4096)
                except OSError:
                    return
                end = 12  # the question's name: labels up to the root
                while end < len(q) and q[end] and q[end] < 64:
                    end += 1 + q[end]
                if len(q) < end + 5 or q[2] & 0x80:
                    continue
                # the question back: QR, the opcode and RD kept, RA, RCODE 5; no records
                sock.sendto(q[:2] + bytes([0x80 | (q[2] & 0x79), 0x85]) + b"\0\1" +
                            b"\0" * 6 + q[12:end + 5], peer)

        threading.Thread(target=serve, daemon=True).start()
        _refusing = "127.0.0.1@%d" % sock.getsockname()[1]
    return _refusing


_QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28}


def dns_query(server, port, name, qtype="A", timeout=2.0):
    """Send one DNS query over UDP; return (rcode, answer_count) or None on no answer.
    Enough to check readiness or that a record exists; use the checker for real parsing."""
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", _QTYPES[qtype], 1)
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, (server, port))
            data, _ = s.recvfrom(4096)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    flags, _, ancount = struct.unpack(">HHH", data[2:8])
    return (flags & 0xF, ancount)


class NetNS:
    """A network namespace with lo up and /etc/netns/NAME/resolv.conf -> nameserver 127.0.0.1.
    Always deleted (with its /etc/netns dir) at exit. Needs root.

        ns = NetNS()            # unique name
        run(ns.cmd(["mta-sts-query", "a.test"]))
    """

    def __init__(self, prefix="stsdt", nameserver="127.0.0.1"):
        self.name = "%s%d_%d" % (prefix, os.getpid(), random.randrange(1 << 20))
        self.etc = os.path.join("/etc/netns", self.name)
        Cleanup.add(self.delete)
        r = run(["ip", "netns", "add", self.name], timeout=10)
        if r.returncode != 0:
            raise RuntimeError("ip netns add failed: " + r.err)
        r = run(["ip", "-n", self.name, "link", "set", "lo", "up"], timeout=10)
        if r.returncode != 0:
            raise RuntimeError("ip link set lo up failed: " + r.err)
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write("nameserver %s\n" % nameserver)

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def delete(self):
        run(["ip", "netns", "delete", self.name], timeout=10)
        shutil.rmtree(self.etc, True)


# ---------------------------------------------------------------------------------------------
# HTTP


class Response:
    """curl() result: status (int, 0 if no response), headers (lowercased name -> last
    value), header_lines (raw), body (bytes), http_version ("1.1", "2"), rc, err."""

    def __repr__(self):
        return "Response(status=%r, headers=%r, body=%r, rc=%r, err=%r)" % (
            self.status, self.headers, self.body[:500], self.rc, self.err)


def policy_fetch(port, name, ctx, session=None, source=None, addr="127.0.0.1", timeout=5.0,
                 want_body=False):
    """GET /.well-known/mta-sts.txt for Host `name` on a new TCP + TLS connection (ctx: an
    ssl.SSLContext; session: a TLS session to resume; source: a local address to connect
    from), reading to the end. Returns (status, TLS session, resumed?), with the body text
    as a fourth item when want_body; raises OSError."""
    import ssl  # noqa: F401 (ctx is one)
    with socket.create_connection((addr, port), timeout,
                                  (source, 0) if source else None) as raw:
        with ctx.wrap_socket(raw, server_hostname=name, session=session) as s:
            s.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
                       "Connection: close\r\n\r\n" % name).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
            if want_body:
                body = data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")
                return status, s.session, s.session_reused, body
            return status, s.session, s.session_reused


def curl(url, method=None, resolve=None, cacert=None, http2=False, data=None, headers=(),
         extra=(), timeout=20, head=False, netns=None):
    """One request with the curl CLI (never follows redirects).

    resolve: "host:port:addr" for --resolve; cacert: the CA file (else -k is NOT added:
    pass extra=["-k"] explicitly); data: bytes to send (--data-binary @file); head: a HEAD
    request with curl -I (body is then b"": curl does not read one; check HEAD bodies on a
    raw socket)."""
    work = tempfile.mkdtemp(prefix="stsdcurl-")
    try:
        hfile, bfile = os.path.join(work, "h"), os.path.join(work, "b")
        # with -I curl prints the headers as the body: keep only -D's copy
        cmd = ["curl", "-sS", "-o", os.devnull if head else bfile, "-D", hfile,
               "-w", "%{http_code} %{http_version}",
               "--max-time", str(timeout)]
        cmd += ["--http2"] if http2 else ["--http1.1"]
        if head:
            cmd.append("-I")
        if method:
            cmd += ["-X", method]
        if resolve:
            cmd += ["--resolve", resolve]
        if cacert:
            cmd += ["--cacert", cacert]
        for h in headers:
            cmd += ["-H", h]
        if data is not None:
            dfile = os.path.join(work, "d")
            with open(dfile, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + dfile]
        cmd += list(extra) + [url]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        r = run(cmd, timeout=timeout + 10)
        resp = Response()
        resp.rc = r.returncode
        resp.err = r.err
        parts = r.out.split()
        resp.status = int(parts[0]) if parts and parts[0].isdigit() else 0
        resp.http_version = parts[1] if len(parts) > 1 else ""
        resp.header_lines = []
        resp.headers = {}
        if os.path.exists(hfile):
            for line in open(hfile, "rb").read().decode("latin-1").split("\r\n"):
                if ":" in line and not line.startswith("HTTP/"):
                    k, v = line.split(":", 1)
                    resp.headers[k.strip().lower()] = v.strip()
                    resp.header_lines.append(line)
        resp.body = open(bfile, "rb").read() if os.path.exists(bfile) else b""
        return resp
    finally:
        shutil.rmtree(work, True)


def background_server(server):
    """Run a socketserver (e.g. an http.server.ThreadingHTTPServer) from a daemon thread until
    stop_server(server) or exit. Returns server."""
    import threading
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Cleanup.add(stop_server, server)
    return server


def stop_server(server):
    """Stop a background_server and close its socket; a second call (or None) does nothing."""
    if server is not None and not getattr(server, "_stsdtest_stopped", False):
        server._stsdtest_stopped = True
        server.shutdown()
        server.server_close()


def parse_h2load(out):
    """h2load's summary as a dict: total, started, done, succeeded, failed, errored, timeout,
    2xx, 3xx, 4xx, 5xx (ints); None when the output has no summary."""
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    c = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not m or not c:
        return None
    keys = ["total", "started", "done", "succeeded", "failed", "errored", "timeout"]
    r = dict(zip(keys, map(int, m.groups())))
    r.update(zip(["2xx", "3xx", "4xx", "5xx"], map(int, c.groups())))
    return r


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "dnsprobe":
    # used by Unbound.start inside a network namespace
    sys.exit(0 if dns_query(sys.argv[2], int(sys.argv[3]), "probe.test.", "A",
                            timeout=0.5) is not None else 1)
