#!/usr/bin/env python3
"""test_pebblelib.py - the pebble fixture itself: pebble-challtestsrv and pebble start on
loopback, the directory answers over HTTPS trusted through the fixture's test CA only, the
root and intermediate are PEM certificates (the intermediate issued by the root), add_a/clear_a
change what the DNS pebble asks answers, and a restarted pebble is a new CA."""

import os
import sys
import json

sys.path.insert(0, os.path.join(os.environ.get("STSD_SOURCE_ROOT", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")), "tests/integration/lib"))
import pebblelib as pl  # noqa: E402
import stsdtest as st  # noqa: E402


def main(t):
    pb = pl.Pebble().start()
    d = json.loads(pb.get(pb.directory))
    t.is_(sorted(k for k in d if k.startswith("new")), ["newAccount", "newNonce", "newOrder"],
          "the directory lists newAccount, newNonce, newOrder")
    t.ok(d["newNonce"].startswith("https://localhost:%d/" % pb.port), "newNonce is on pebble",
         d["newNonce"])
    r = st.curl(pb.directory, extra=["--resolve", "localhost:%d:127.0.0.1" % pb.port])
    t.ok(r.status == 0 and r.rc == 60, "curl without the fixture's CA refuses pebble's HTTPS",
         repr(r))
    r = st.curl(pb.directory, cacert=pb.ca_file,
                extra=["--resolve", "localhost:%d:127.0.0.1" % pb.port])
    t.is_(r.status, 200, "curl with ca_file gets the directory")
    root = pl.cert_info(open(pb.root, "rb").read())
    inter = pl.cert_info(open(pb.intermediate, "rb").read())
    t.ok(root["subject"].startswith("CN=Pebble Root CA "), "root subject", root)
    t.is_(inter["issuer"], root["subject"], "the intermediate is issued by the root")
    r = st.run(["openssl", "verify", "-CAfile", pb.root, pb.intermediate])
    t.is_(r.returncode, 0, "openssl verifies the intermediate against the root")
    t.is_(pb.resolve_a("mta-sts.a.test"), ["127.0.0.1"], "DNS: every name is 127.0.0.1")
    pb.add_a("mta-sts.a.test", ["127.0.0.2"])
    t.is_(pb.resolve_a("mta-sts.a.test"), ["127.0.0.2"], "add_a points the name elsewhere")
    t.is_(pb.resolve_a("mta-sts.b.test"), ["127.0.0.1"], "other names unchanged")
    pb.clear_a("mta-sts.a.test")
    t.is_(pb.resolve_a("mta-sts.a.test"), ["127.0.0.1"], "clear_a restores the default")
    t.ok("PEBBLE_VA_ALWAYS_VALID" not in pb.env and pb.env.get("PEBBLE_VA_NOSLEEP") == "1",
         "pebble validates for real, without its sleep")
    pb.stop_pebble()
    r = st.curl(pb.directory, cacert=pb.ca_file, timeout=3,
                extra=["--resolve", "localhost:%d:127.0.0.1" % pb.port])
    t.is_(r.status, 0, "the directory is down after stop_pebble")
    pb.start_pebble()
    root2 = pl.cert_info(open(pb.root, "rb").read())
    t.ok(root2["subject"] != root["subject"], "a restarted pebble is a new CA",
         (root, root2))
    pb.stop()


st.Tap().run(main)
