#!/usr/bin/env python3
"""test_check_agreement.py - `stsd check` agrees with independent tools on the bed:

- for every address of every MX, the checker's TLS verdict (verified and name_match) equals
  `openssl s_client -starttls smtp ... -verify_return_error -verify_hostname HOST` (pass/fail);
- for every domain where `mta-sts-query` (postfix-mta-sts-resolver) fetches a valid policy, the
  checker's parsed policy (mode, max_age, mx) is the same.

mta-sts-query only uses the system resolver and port 443, so everything runs in a network
namespace this test makes: lo up, /etc/netns/NS/resolv.conf -> 127.0.0.1, unbound on
127.0.0.1:53, the policy hosts on port 443, the MX servers on port 25, the test CA through
SSL_CERT_FILE. The checker runs with its default ports there. The namespace and
/etc/netns/NS are removed in any case.

The outer process makes the namespace and runs itself inside it with --inner; the inner one
reports each check as a JSON line that the outer turns into TAP.
"""

import json
import os
import re
import ast
import concurrent.futures
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bed as B  # noqa: E402
import stsdtest as st  # noqa: E402

S_CLIENT_WALL = 4.0  # s_client gets about as long as the checker's --timeout 3
CHECK_TIMEOUT = 3


class Report:
    """Inner side: each check is one JSON line on stdout."""

    def ok(self, cond, what, diag=None):
        print("R " + json.dumps({"ok": bool(cond), "what": what,
                                 "diag": None if diag is None else str(diag)}), flush=True)
        return bool(cond)

    def is_(self, got, want, what):
        return self.ok(got == want, what, "got:  %r\nwant: %r" % (got, want))


def s_client(ip, host, ca):
    """True when openssl s_client completes STARTTLS and verifies chain and name."""
    cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect",
           ("[%s]:25" if ":" in ip else "%s:25") % ip,
           "-servername", host, "-verify_return_error", "-verify_hostname", host,
           "-CAfile", ca,
           # the certificate verdict is compared; the protocol version is mx.tls.version's
           # business, so let s_client speak TLS 1.0 too (as the checker's probe does)
           "-cipher", "DEFAULT:@SECLEVEL=0"]
    r = st.run(cmd, timeout=S_CLIENT_WALL, input=b"")
    passed = (r.returncode == 0 and not r.timed_out and
              "Verify return code: 0 (ok)" in r.out)
    return passed, r


# Where stsd deliberately differs from mta-sts-query: domain -> (key, checker's value,
# mta-sts-query's value, why)
KNOWN_DIFFERENCES = {
    "p-dupkey.test": ("max_age", 604800, 86400,
                      "a duplicate key: stsd keeps the first, mta-sts-query the last"),
}

_QUERY_RE = re.compile(r"^\(<STSFetchResult\.(\w+): \d+>, (.*)\)$", re.S)


def mta_sts_query(domain, ca):
    """(result name, policy dict or None) from mta-sts-query's printed tuple."""
    env = dict(os.environ, SSL_CERT_FILE=ca)
    r = st.run(["mta-sts-query", "-v", "error", domain], timeout=30, env=env)
    m = _QUERY_RE.match(r.out.strip())
    if not m:
        return None, None, r
    rest = ast.literal_eval(m.group(2))
    pol = rest[1] if isinstance(rest, tuple) and len(rest) == 2 else None
    return m.group(1), pol, r


def inner():
    rep = Report()
    bed = B.Bed(smtp_port=25, https_port=443, dns_port=53).start()
    rep.ok(True, "bed up inside the namespace (unbound :53, MX :25, policy hosts :443)")

    # MX hosts: every domain with MX servers of the bed
    mx_domains = ["good.test", "par1.test", "mx-partial.test"] + list(B.MX_FAULTS)
    policy_domains = [d.name for d in B.DOMAINS if d.policy_host is not None and
                      d.catalogue and d.timeout == 3 and not d.config]
    names = sorted(set(mx_domains) | set(policy_domains))
    cmd = [bed.stsd_bin, "check", "--json", "--resolver", "127.0.0.1", "--ca-file",
           bed.ca_file, "--timeout", str(CHECK_TIMEOUT)] + names
    r = st.run(cmd, timeout=180)
    try:
        js = json.loads(r.out)
    except ValueError:
        js = None
    if not rep.ok(js is not None, "stsd check --json (default ports 25/443, resolver "
                  "127.0.0.1) ran on %d domains" % len(names), r):
        return
    san = B.sanitizer_report(r.err)
    rep.ok(san is None, "stsd check: no sanitizer report", san)

    # 1. TLS verdicts against openssl s_client (a few at a time)
    probes = []
    for d in mx_domains:
        e = B.findings_of(js, d)
        if not rep.ok(e is not None, "%s: in the checker's output" % d):
            continue
        for m in e.get("mx") or []:
            for a in m.get("addresses") or []:
                probes.append((m.get("host"), a))
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda pa: s_client(pa[1].get("ip"), pa[0], bed.ca_file), probes))
    for (host, a), (theirs, sr) in zip(probes, outs):
        mine = a.get("verified") is True and a.get("name_match") is True
        rep.ok(mine == theirs, "%s[%s]: checker %s, s_client %s" %
               (host, a.get("ip"), "pass" if mine else "fail", "pass" if theirs else "fail"),
               "checker: %r\ns_client rc=%r timed_out=%r\n%s" %
               (a, sr.returncode, sr.timed_out,
                "\n".join(l for l in (sr.out + sr.err).splitlines()
                          if "error" in l.lower() or "Verify" in l)))
    want = sum(len(bed.hosts[h]) for d in mx_domains for _, h in B.dom(d).mx)
    rep.is_(len(probes), want, "s_client compared on every address of every MX")

    # 2. parsed policies against mta-sts-query
    valid = 0
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        answers = list(ex.map(lambda d: mta_sts_query(d, bed.ca_file), policy_domains))
    for d, (res, pol, qr) in zip(policy_domains, answers):
        if res is None:
            rep.ok(False, "%s: mta-sts-query output understood" % d, qr)
            continue
        if res != "VALID":
            continue
        valid += 1
        e = B.findings_of(js, d) or {}
        p = e.get("policy") or {}
        mine = (p.get("mode"), p.get("max_age"), p.get("mx"))
        theirs = (pol.get("mode"), pol.get("max_age"), pol.get("mx"))
        if d in KNOWN_DIFFERENCES:
            key, want_mine, want_theirs, why = KNOWN_DIFFERENCES[d]
            rep.is_((p.get(key), pol.get(key)), (want_mine, want_theirs),
                    "%s: %s differs from mta-sts-query's as expected (%s)" % (d, key, why))
            continue
        rep.is_(mine, theirs, "%s: policy (mode, max_age, mx) equals mta-sts-query's" % d)
    rep.ok(valid >= 10, "mta-sts-query fetched a valid policy for %d domains" % valid)
    res, pol, qr = mta_sts_query("good.test", bed.ca_file)
    rep.is_(res, "VALID", "mta-sts-query: good.test is VALID")


def outer(t):
    ns = st.NetNS(prefix="stsdck")
    cmd = ns.cmd([sys.executable, os.path.abspath(__file__), "--inner"])
    errfile = os.path.join(st.tempdir("stsd-agree-"), "inner.err")
    errf = open(errfile, "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True,
                         start_new_session=True)

    def stop_inner():
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
        # anything of ours still running inside the namespace (unbound, stsd serve)
        r = st.run(["ip", "netns", "pids", ns.name], timeout=10)
        for pid in r.out.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    st.Cleanup.add(stop_inner)
    n = 0
    for line in p.stdout:
        if line.startswith("R "):
            rec = json.loads(line[2:])
            t.ok(rec["ok"], rec["what"], rec["diag"])
            n += 1
        else:
            t.diag("inner: " + line.rstrip())
    p.wait(timeout=300)
    errf.close()
    err = open(errfile).read()
    t.ok(p.returncode == 0 and n > 0, "inner run finished cleanly (rc=%r, %d checks)" %
         (p.returncode, n), err[-3000:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--inner"]:
        try:
            inner()
        except Exception as e:
            import traceback
            Report().ok(False, "inner raised %s: %s" % (type(e).__name__, e),
                        traceback.format_exc())
        sys.exit(0)
    st.Tap().run(outer)
