#!/usr/bin/env python3
"""Reloads under load: while h2load (HTTP/2, then HTTP/1.1 keep-alive) fetches the policy,
SIGHUP several times and edit files (good and broken versions, certificates); not one
request may fail or error, and every answer is 2xx."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", "."), "tests/integration/lib"))
import stsdtest as st  # noqa: E402

V1 = "version: STSv1\nmode: testing\nmx: mail.a.test\nmax_age: 86400\n"
V2 = "version: STSv1\nmode: enforce\nmx: mail.a.test\nmax_age: 604800\n"
BROKEN = "version: STSv1\nmode: sometimes\nmx: mail.a.test\nmax_age: 604800\n"


def main(t):
    d = st.tempdir()
    ca = st.TestCA(os.path.join(d, "ca"))
    leaf = ca.issue("mta-sts.a.test")
    # h2load connects to 127.0.0.1 (no SNI for an IP literal): default.pem answers
    s = st.Stsd(policies={"a.test": V1}, certs={"mta-sts.a.test": leaf, "default": leaf},
                threads=2)
    s.start()
    url = "https://127.0.0.1:%d/.well-known/mta-sts.txt" % s.port
    for label, proto in (("HTTP/2", []), ("HTTP/1.1", ["--h1"])):
        cmd = ["h2load", "-D", "4", "-c", "8", "-m", "4" if not proto else "1", "-t", "1",
               "-H", ":authority: mta-sts.a.test"] + proto + [url]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        st.Cleanup.add(lambda p=p: p.poll() is None and p.kill())
        time.sleep(0.5)
        n0 = s.log().count("event=policy.reload ")
        hups = 0
        for i in range(6):
            if i % 3 == 0:
                s.write_policy("a.test", V2 if i % 2 else V1)
            elif i % 3 == 1:
                s.write_policy("a.test", BROKEN)
            else:
                st.TestCA.install(leaf, s.cert_dir, "default")
            s.hup()
            hups += 1
            time.sleep(0.4)
        out, _ = p.communicate(timeout=60)
        out = out.decode("utf-8", "replace")
        r = st.parse_h2load(out)
        t.ok(r is not None, "%s: h2load ran and printed its summary" % label, out)
        if r is None:
            continue
        reloads = s.log().count("event=policy.reload ") - n0
        t.ok(reloads >= hups, "%s: %d reloads happened during the run" % (label, reloads))
        t.ok(r["done"] > 100, "%s: %d requests done" % (label, r["done"]), out)
        t.is_((r["failed"], r["errored"], r["timeout"]), (0, 0, 0),
              "%s: no failed, errored or timed-out request" % label)
        t.is_((r["2xx"], r["3xx"], r["4xx"], r["5xx"]), (r["done"], 0, 0, 0),
              "%s: every answer is 2xx" % label)
    t.ok(s.proc.poll() is None, "stsd is still running")
    t.is_(s.stop(), 0, "SIGTERM: exit 0")


if __name__ == "__main__":
    st.Tap().run(main)
