#!/usr/bin/python3
"""test_acme_client - the ACME client of acme/ (through acme_probe) against Debian's pebble and
pebble-challtestsrv on loopback, pebble validating for real: http-01 and tls-alpn-01 each issue
a chain that openssl verifies for the host with pebble's root; the same account key finds the
same account; a closed port, an untrusted directory and a wrong directory path fail with the
right status; a challenge that cannot succeed (the name pointed at 127.0.0.2) fails as
`challenge` with pebble's reason; a body past the cap and a 503 fail as `protocol` and
`network`; a CA with a valid authorization, a `processing` order with Retry-After and the
issuer behind Link rel="up" (fakeacme.py) gives a complete chain; one client rides out pebble down (network) and a restarted
pebble that forgot the account (registered again); badNonce is retried exactly 5 times; a 429 with Retry-After
(a fake directory) is `rate_limited` with the seconds."""

import http.server
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import stsdtest as st  # noqa: E402
import pebblelib as pl  # noqa: E402

PROBE = os.path.join(os.environ.get("STSD_BUILD_ROOT", "build"), "tests", "integration", "acme",
                     "acme_probe")
ERROR_RE = re.compile(r"^error status=(\S+) http=(\d+) retry_after=(\d+) type=(\S+) detail=(.*)$",
                      re.M)


def probe(pb_or_dir, key, *args, ca_file=None, timeout=120):
    """Run acme_probe; (returncode, stdout, account line match, error match)."""
    directory = pb_or_dir if isinstance(pb_or_dir, str) else pb_or_dir.directory
    if ca_file is None and not isinstance(pb_or_dir, str):
        ca_file = pb_or_dir.ca_file
    cmd = [PROBE, "--directory", directory, "--account-key", key,
           "--contact", "mailto:ops@example.test"] + list(args)
    if ca_file:
        cmd += ["--ca-file", ca_file]
    r = st.run(cmd, timeout=timeout)
    acct = re.search(r"^account (created|existing) (\S+)$", r.out, re.M)
    err = ERROR_RE.search(r.out)
    return r, acct, err


def order(pb, key, host, challenge, work, poll_max=None):
    chain = os.path.join(work, host + "." + challenge + ".chain.pem")
    keyf = os.path.join(work, host + "." + challenge + ".key.pem")
    port = pb.http_port if challenge == "http-01" else pb.tls_port
    args = ["--host", host, "--challenge", challenge, "--port", str(port), "--chain", chain,
            "--key", keyf]
    if poll_max:
        args += ["--poll-max", str(poll_max)]
    r, acct, err = probe(pb, key, *args)
    return r, acct, err, chain, keyf


class HostileDir:
    """An HTTPS server (the test CA's certificate for localhost) that answers GET /big with a
    chunked body past the client's 256 KiB cap (it keeps sending until the client hangs up)
    and GET /busy with 503, Retry-After: 7 and a serverInternal problem document."""

    def __init__(self, ca):
        leaf = ca.issue("localhost", sans=["localhost", "IP:127.0.0.1"], name="hostile")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(leaf["chain"], leaf["key"])
        self.sent = 0

        hd = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            log_message = staticmethod(lambda *a: None)  # quiet

            def do_GET(self):
                if self.path == "/big":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"{" + b" " * 65535
                    try:
                        for _ in range(16384):  # 1 GiB, unless the client hangs up
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            hd.sent += len(chunk)
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass
                    return
                body = json.dumps({"type": "urn:ietf:params:acme:error:serverInternal",
                                   "detail": "try later"}).encode()
                self.send_response(503)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", "7")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.base = "https://localhost:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        st.Cleanup.add(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def log_count(pb, needle):
    """How often needle occurs in pebble's whole log (every start appends to it)."""
    with open(pb.log_file, "rb") as f:
        return f.read().decode("utf-8", "replace").count(needle)


def key_matches_cert(keyf, chain):
    pub_k = st.run(["openssl", "pkey", "-in", keyf, "-pubout"], timeout=20).out
    pub_c = st.run(["openssl", "x509", "-in", chain, "-noout", "-pubkey"], timeout=20).out
    return pub_k != "" and pub_k == pub_c


def main(t):
    pb = pl.Pebble().start()
    work = st.tempdir("stsd-acme-client-")
    acct_key = os.path.join(work, "account.key")

    # http-01: a new account, a chain pebble's root verifies for the host
    r, acct, err, chain, keyf = order(pb, acct_key, "mta-sts.one.test", "http-01", work)
    t.is_(r.returncode, 0, "http-01: the probe succeeds")
    t.ok(acct is not None and acct.group(1) == "created", "http-01: a new account is created",
         r.out + r.err)
    account_url = acct.group(2) if acct else None
    t.ok(account_url is not None and account_url.startswith("https://localhost:%d/" % pb.port),
         "the account URL is pebble's", account_url)
    t.ok("issued" in r.out, "http-01: issued", r.out)
    ok, out = pl.verify(pb, chain, "mta-sts.one.test") if os.path.exists(chain) else (False, "")
    t.ok(ok, "http-01: openssl verify accepts the chain for mta-sts.one.test", out)
    t.is_(pl.cert_info(open(chain, "rb").read())["sans"] if os.path.exists(chain) else None,
          ["mta-sts.one.test"], "http-01: the certificate names exactly the host")
    t.ok(key_matches_cert(keyf, chain), "http-01: the key written is the certificate's")
    t.is_(stat.S_IMODE(os.stat(acct_key).st_mode), 0o600, "the account key file is 0600")
    ok, _ = pl.verify(pb, chain, "mta-sts.other.test") if os.path.exists(chain) else (True, "")
    t.ok(not ok, "the chain does not verify for another name (the check can fail)")

    # tls-alpn-01 with the same key: the same account, found (200), not created
    r, acct, err, chain, keyf = order(pb, acct_key, "mta-sts.two.test", "tls-alpn-01", work)
    t.is_(r.returncode, 0, "tls-alpn-01: the probe succeeds")
    t.is_(acct.group(1) if acct else None, "existing", "the same key finds its account")
    t.is_(acct.group(2) if acct else None, account_url, "the same account URL")
    ok, out = pl.verify(pb, chain, "mta-sts.two.test") if os.path.exists(chain) else (False, "")
    t.ok(ok, "tls-alpn-01: openssl verify accepts the chain for mta-sts.two.test", out)
    t.ok(key_matches_cert(keyf, chain), "tls-alpn-01: the key written is the certificate's")
    t.ok(re.search(r"^issued mta-sts.two.test served=[1-9]", r.out, re.M) is not None,
         "tls-alpn-01: pebble's validation handshakes reached the responder", r.out)

    # a closed port: network
    closed = "https://localhost:%d/dir" % st.free_port()
    r, acct, err = probe(closed, acct_key, "--account-only", ca_file=pb.ca_file)
    t.is_(err.group(1) if err else None, "network", "a closed port is a network failure")
    t.ok(err is not None and closed in err.group(5) and "directory" in err.group(5),
         "the detail names the step and the URL", r.out)
    t.is_(r.returncode, 1, "the probe exits 1")
    # pebble's certificate without the test CA: a TLS failure, network too
    r, acct, err = probe(pb.directory, acct_key, "--account-only", ca_file="")
    t.is_(err.group(1) if err else None, "network", "an untrusted directory is a network failure")
    t.ok(err is not None and "certificate" in err.group(5), "the detail says why", r.out)
    # a directory that accepts the connection and never answers: cancelled after 1 s, long
    # before the 30 s request timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    st.Cleanup.add(silent.close)
    t0 = time.monotonic()
    r, acct, err = probe("https://localhost:%d/dir" % silent.getsockname()[1], acct_key,
                         "--account-only", "--timeout", "30", "--cancel-after", "1",
                         ca_file=pb.ca_file)
    took = time.monotonic() - t0
    t.ok(err is not None and err.group(1) == "local" and err.group(5).endswith(": cancelled"),
         "cancelled mid-transfer: `local`, \"cancelled\"", r.out)
    t.ok(took < 5, "the cancel ends the exchange at once (%.1f s)" % took)
    silent.close()
    # a CA file that cannot be read is ours to fix: local, named
    missing = os.path.join(work, "no-such-ca.pem")
    r, acct, err = probe(pb.directory, acct_key, "--account-only", ca_file=missing)
    t.ok(err is not None and err.group(1) == "local" and
         err.group(5).endswith("cannot load the CA file " + missing),
         "an unreadable ca_file: `local`, named", r.out)
    # the right server, a wrong path: an answer that is not ACME
    wrong = pb.directory.replace("/dir", "/no-such-dir")
    r, acct, err = probe(wrong, acct_key, "--account-only", ca_file=pb.ca_file)
    t.is_(err.group(1) if err else None, "protocol", "a 404 without a problem document")
    t.is_(err.group(2) if err else None, "404", "its HTTP status")

    # a challenge that cannot succeed: pebble's DNS sends the VA to 127.0.0.2
    bad = "mta-sts.bad.test"
    pb.add_a(bad, ["127.0.0.2"])
    r, acct, err, chain, keyf = order(pb, acct_key, bad, "http-01", work)
    t.ok(err is not None and err.group(1) == "challenge", "an invalid authorization is "
         "`challenge`", r.out + r.err)
    t.is_(err.group(4) if err else None, "urn:ietf:params:acme:error:connection",
          "the challenge's problem type")
    t.ok(err is not None and "127.0.0.2" in err.group(5) and bad in err.group(5) and
         "authorization https://" in err.group(5), "the detail names the authorization, the "
         "host and pebble's reason", err.group(5) if err else r.out)
    t.ok(not os.path.exists(chain) and not os.path.exists(keyf), "nothing is written")
    pb.clear_a(bad)
    r, acct, err, chain, keyf = order(pb, acct_key, bad, "tls-alpn-01", work)
    t.ok(r.returncode == 0, "the same name issues once its DNS points back here", r.out)

    # one client across a CA outage and a CA that forgot the account (pebble restarted: a new
    # CA): the order while it is down fails as network, the next one registers again
    restart_dir = os.path.join(work, "restart")
    os.mkdir(restart_dir)
    hosts = ["mta-sts.r1.test", "mta-sts.r2.test", "mta-sts.r3.test"]
    cmd = [PROBE, "--directory", pb.directory, "--ca-file", pb.ca_file, "--account-key", acct_key,
           "--challenge", "http-01", "--port", str(pb.http_port), "--out-dir", restart_dir,
           "--pause"]
    for h in hosts:
        cmd += ["--host", h]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(180, p.kill)
    watchdog.start()
    lines = [p.stdout.readline().strip(), p.stdout.readline().strip()]
    t.is_(lines[0], "account existing " + str(account_url), "the restart run finds the account")
    t.ok(lines[1].startswith("issued mta-sts.r1.test "), "the first order is issued", lines[1])
    t.is_(p.stdout.readline().strip(), "next mta-sts.r2.test", "the probe waits")
    pb.stop_pebble()
    p.stdin.write("\n")
    p.stdin.flush()
    line = p.stdout.readline().strip()
    t.ok(line.startswith("error status=network "), "the order while pebble is down: network",
         line)
    t.is_(p.stdout.readline().strip(), "next mta-sts.r3.test", "the probe waits again")
    accounts_before = log_count(pb, "POST /sign-me-up")
    pb.env["PEBBLE_WFE_NONCEREJECT"] = "0"
    pb.start_pebble()
    p.stdin.write("\n")
    p.stdin.flush()
    line = p.stdout.readline().strip()
    t.ok(line.startswith("issued mta-sts.r3.test "), "the same client orders from the new CA "
         "(directory fetched again, the account registered again)", line)
    p.stdin.close()
    t.is_(p.wait(), 1, "the probe exits 1 (one order failed)")
    watchdog.cancel()
    r3 = os.path.join(restart_dir, "mta-sts.r3.test.chain.pem")
    ok, out = pl.verify(pb, r3, "mta-sts.r3.test") if os.path.exists(r3) else (False, "")
    t.ok(ok, "its chain verifies with the new CA's root", out)
    t.is_(log_count(pb, "POST /sign-me-up") - accounts_before, 1,
          "the new CA saw one newAccount (no badNonce here: PEBBLE_WFE_NONCEREJECT=0)")

    # badNonce: pebble rejecting every nonce; the request is sent 1 + 5 times, then fails
    pb.stop_pebble()
    pb.env["PEBBLE_WFE_NONCEREJECT"] = "100"
    pb.start_pebble()
    before = log_count(pb, "POST /sign-me-up")
    r, acct, err = probe(pb, os.path.join(work, "nonce.key"), "--account-only")
    t.ok(err is not None and err.group(4) == "urn:ietf:params:acme:error:badNonce",
         "every nonce rejected: the badNonce problem is reported", r.out)
    t.is_(err.group(1) if err else None, "ca", "as a CA problem")
    t.is_(log_count(pb, "POST /sign-me-up") - before, 6,
          "newAccount was sent once and retried 5 times")
    pb.stop()

    # 429 with Retry-After and rateLimited: a fake directory
    import fakedir
    ca = st.TestCA(os.path.join(work, "fakeca"))
    fd = fakedir.FakeDir(ca, limit={"newAccount"}, retry_after=42).start()
    st.Cleanup.add(fd.stop)
    r, acct, err = probe(fd.directory, os.path.join(work, "rl.key"), "--account-only",
                         ca_file=fd.ca_file)
    t.ok(err is not None and err.group(1) == "rate_limited", "429 rateLimited is `rate_limited`",
         r.out + r.err)
    t.is_(err.group(3) if err else None, "42", "with the Retry-After seconds")
    t.is_(err.group(2) if err else None, "429", "and the HTTP status")
    fd.stop()

    # a broken or hostile directory: a body past the cap ends the transfer, a 5xx is `network`
    hostile = HostileDir(ca)
    r, acct, err = probe(hostile.base + "/big", os.path.join(work, "rl.key"), "--account-only",
                         ca_file=ca.cert)
    t.ok(err is not None and err.group(1) == "protocol" and
         err.group(5).endswith(": the answer exceeds 262144 bytes"),
         "a directory past 256 KiB: `protocol`, the answer exceeds 262144 bytes", r.out)
    time.sleep(0.5)
    t.ok(hostile.sent < 64 * 1024 * 1024, "the client hung up: the server could write only "
         "%d bytes (kernel buffers included)" % hostile.sent)
    r, acct, err = probe(hostile.base + "/busy", os.path.join(work, "rl.key"), "--account-only",
                         ca_file=ca.cert)
    t.ok(err is not None and err.group(1) == "network", "503 is `network`", r.out)
    t.is_(err.group(2) + " " + err.group(3) if err else None, "503 7",
          "with its HTTP status and Retry-After")
    t.ok(err is not None and "serverInternal: try later" in err.group(5),
         "and the problem's detail", r.out)
    hostile.stop()

    # a CA pebble is not: the authorization already valid (nothing presented), the order
    # `processing` with Retry-After: 2 after finalize, the leaf sent alone with its issuer
    # behind Link rel="up"
    import fakeacme
    fa = fakeacme.FakeAcme(ca, processing_retry_after=2).start()
    out = os.path.join(work, "fake")
    os.mkdir(out)
    r, acct, err = probe(fa.directory, os.path.join(work, "fake.key"), "--host",
                         "mta-sts.fake.test", "--challenge", "http-01", "--port",
                         str(st.free_port()), "--out-dir", out, ca_file=ca.cert)
    t.ok(re.search(r"^issued mta-sts.fake.test served=0$", r.out, re.M) is not None,
         "fake CA: issued without presenting anything (the authorization was valid)",
         r.out + r.err)
    polls = fa.times("order")
    t.is_(len(polls), 3, "fake CA: the order was polled 3 times (ready, processing, valid)")
    t.ok(len(polls) == 3 and polls[2] - polls[1] >= 1.9,
         "fake CA: the poll after `processing` waited for its Retry-After (%.2f s)" %
         ((polls[2] - polls[1]) if len(polls) == 3 else -1))
    t.is_(fa.names().count("issuer"), 1, "fake CA: the issuer was fetched once, from Link up")
    chain = os.path.join(out, "mta-sts.fake.test.chain.pem")
    pem = open(chain, "rb").read() if os.path.exists(chain) else b""
    t.is_(pem.count(b"-----BEGIN CERTIFICATE-----"), 2, "fake CA: leaf + issuer in the file")
    v = st.run(["openssl", "verify", "-CAfile", ca.cert, "-verify_hostname",
                "mta-sts.fake.test", chain], timeout=20)
    t.ok(v.returncode == 0, "fake CA: the chain verifies for the host", v.out + v.err)
    fa.stop()


if __name__ == "__main__":
    st.Tap().run(main)
