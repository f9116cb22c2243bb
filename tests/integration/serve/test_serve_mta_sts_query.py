#!/usr/bin/env python3
"""A real MTA-STS client (mta-sts-query from postfix-mta-sts-resolver) fetches and accepts a
policy from stsd. It resolves through the system resolver, so everything runs in a private
network namespace: unbound on 127.0.0.1:53 serves _mta-sts.<d> TXT and mta-sts.<d> A, stsd
listens on 127.0.0.1:443, and /etc/netns/<ns>/resolv.conf points at unbound."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

DOMAINS = {
    "a.test": ("enforce", ["mail.a.test", "*.backup.a.test"], 604800),
    "b.test": ("testing", ["mx1.b.test"], 86400),
}


def policy_text(mode, mxs, max_age):
    return "version: STSv1\nmode: %s\n%smax_age: %d\n" % (
        mode, "".join("mx: %s\n" % m for m in mxs), max_age)


def main(t):
    r = st.run(["mta-sts-query", "--help"])
    t.ok(r.returncode == 0 and "known_version" in r.out, "mta-sts-query --help works", r)

    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    ns = st.NetNS()
    records = []
    for dom in DOMAINS:
        records += ['_mta-sts.%s. TXT "v=STSv1; id=20261129T000000"' % dom,
                    "mta-sts.%s. A 127.0.0.1" % dom]
    u = st.Unbound(records, port=53, netns=ns.name)
    u.start()
    s = st.Stsd(policies={dom: policy_text(*v) for dom, v in DOMAINS.items()},
                certs={"mta-sts.%s" % dom: ca.issue("mta-sts.%s" % dom) for dom in DOMAINS},
                listen=["127.0.0.1:443"], netns=ns.name)
    s.start(wait=False)
    t.ok(s.wait_ready(), "stsd listens on 127.0.0.1:443 inside the namespace", s.log())

    for dom, (mode, mxs, max_age) in DOMAINS.items():
        r = st.run(ns.cmd(["env", "SSL_CERT_FILE=" + ca.cert, "mta-sts-query", dom]),
                   timeout=60)
        out = r.out
        t.ok(r.returncode == 0 and "STSv1" in out, "%s: mta-sts-query fetched a policy" % dom,
             r)
        # It prints (<STSFetchResult.VALID: 1>, ('<id>', {'mx': [...], 'version': 'STSv1',
        # 'mode': ..., 'max_age': ...})) - read the fields back out of that text.
        t.ok(out.startswith("(<STSFetchResult.VALID"), "%s: the policy is valid for the client"
             % dom, r)
        t.ok("'20261129T000000'" in out, "%s: with the id from DNS" % dom, r)
        m = re.search(r"'mode': '([a-z]+)'", out)
        t.is_(m.group(1) if m else None, mode, "%s: mode as in the file" % dom)
        m = re.search(r"'max_age': (\d+)", out)
        t.is_(int(m.group(1)) if m else None, max_age, "%s: max_age as in the file" % dom)
        m = re.search(r"'mx': \[([^\]]*)\]", out)
        got = sorted(re.findall(r"'([^']+)'", m.group(1))) if m else None
        t.is_(got, sorted(mxs), "%s: mx list as in the file" % dom)

    r = st.run(ns.cmd(["env", "SSL_CERT_FILE=" + ca.cert, "mta-sts-query", "c.test"]),
               timeout=60)
    t.ok("VALID" not in r.out and r.out.startswith("(<STSFetchResult."), "c.test (no TXT record, not hosted) has no valid policy", r)
    t.is_(s.stop(), 0, "stsd: SIGTERM exit 0")


if __name__ == "__main__":
    st.Tap().run(main)
