#!/usr/bin/env python3
"""The README's Postfix setup, run for real: Debian's Postfix as a private instance (its own
main.cf and master.cf, queue in a temporary directory, smtpd on a free loopback port, the
packaged daemon untouched) with the snippets of "Receiving reports at your own Postfix (pipe)"
read from README.md as printed; only paths, the user (nobody for stsd) and the domain
(example.test) are changed. Messages are sent with smtplib:

- a report for tlsrpt@ (the transport entry, the wrapper service) is delivered and stored;
  the address is accepted because of the README's alias line (one in the transport map only
  is refused as an unknown local recipient);
- the same through the service with flags=F (a From_ line first): stored;
- a message without a report: through the wrapper delivered, kept in the rejected folder,
  nothing bounced; through the plain argv bounced ("Command died with status 1"), the bounce
  arriving at the sender's mailbox with stsd's reason;
- the state directory not writable by the stsd user: stsd exits 75, both messages stay
  deferred in the queue (postqueue -j); after the fix `postqueue -f` delivers and stores them;
- a broken configuration (exit 78): the plain argv bounces (5.3.5), the wrapper defers and
  the message is stored after the fix;
- the alias alternative (a |command in an alias file the stsd user owns): stored, run as it.
"""
import json
import os
import pwd
import re
import shutil
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intake_lib as il  # noqa: E402
from intake_lib import st  # noqa: E402

USER = "nobody"  # the README's stsd user: pipe(8) refuses root


def readme_section():
    with open(os.path.join(st.SOURCE_ROOT, "README.md")) as f:
        text = f.read()
    sec = text[text.index("### Receiving reports at your own Postfix (pipe)"):]
    return sec[:min(i for i in (sec.find("\n## "), sec.find("\n### ")) if i > 0)]


def snippets(sec):
    """(wrapper script, master.cf lines, transport line, alias-file line, plain argv)."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", sec, re.S)
    wrapper = next((b for lang, b in blocks if b.startswith("#!/bin/sh")), None)
    master = next((b for lang, b in blocks if b.startswith("stsd ")), None)
    transport = next((b for lang, b in blocks if b.startswith("tlsrpt@")), None)
    alias = next((b for lang, b in blocks if b.startswith('tlsrpt: "|')), None)
    m = re.search(r"`argv=(/usr/local/bin/stsd -c [^`]+)`", sec)
    return wrapper, master, transport, alias, m.group(1) if m else None


def report_message(rid, sender="reporter@sender.test", report=True):
    """A TLS-RPT message as a reporter sends it (or, report=False, one without a report)."""
    head = ("From: %s\r\nTo: tlsrpt@example.test\r\nMessage-ID: <%s@sender.test>\r\n"
            "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n" % (sender, rid))
    if not report:
        return (head + "Subject: not a report\r\n\r\nHello.\r\n").encode()
    import base64
    body = base64.encodebytes(il.report_bytes(rid, gz=True)).decode().replace("\n", "\r\n")
    return (head + "Subject: Report Domain: a.test Submitter: sender.test Report-ID: <%s>\r\n"
            "TLS-Report-Domain: a.test\r\nTLS-Report-Submitter: sender.test\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
            "--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
            "Content-Disposition: attachment; filename=\"%s.json.gz\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s--b--\r\n" % (rid, rid, body)).encode()


class Postfix:
    """A private Postfix instance in directory w (config in w/conf, queue in w/queue)."""

    SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

    def __init__(self, w, services, transport, aliases, stsd_aliases, env):
        self.w = w
        self.conf = os.path.join(w, "conf")
        self.port = st.free_port()
        self.maillog = os.path.join(w, "maillog")
        os.makedirs(self.conf)
        os.makedirs(os.path.join(w, "queue"))
        os.makedirs(os.path.join(w, "data"))
        shutil.chown(os.path.join(w, "data"), "postfix")
        nobody = pwd.getpwnam(USER)
        exported = " ".join("%s=%s" % (k, v) for k, v in sorted(env.items()))
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = %(w)s/queue
data_directory = %(w)s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
mydestination = example.test, alias.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# the alias file stsd's user owns first: its |command runs as that user
alias_maps = hash:%(w)s/conf/stsd-aliases, hash:%(w)s/conf/aliases
alias_database = hash:%(w)s/conf/stsd-aliases, hash:%(w)s/conf/aliases
transport_maps = hash:%(w)s/conf/transport
# the reporters' domain: a mailbox here, so a bounce can be read; nothing leaves the host
virtual_mailbox_domains = sender.test
virtual_mailbox_base = %(w)s/vmail
virtual_mailbox_maps = static:sender/
virtual_uid_maps = static:%(uid)d
virtual_gid_maps = static:%(gid)d
virtual_minimum_uid = 1
default_transport = error:nothing leaves this test
relay_transport = error:nothing leaves this test
smtp_dns_support_level = disabled
disable_dns_lookups = yes
maillog_file = %(w)s/maillog
maillog_file_prefixes = %(w)s
smtputf8_enable = no
biff = no
# a deferred message waits for postqueue -f
minimal_backoff_time = 1h
maximal_backoff_time = 2h
queue_run_delay = 1h
export_environment = TZ MAIL_CONFIG LANG %(env)s
""" % {"w": w, "uid": nobody.pw_uid, "gid": nobody.pw_gid, "env": exported})
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd\n" % self.port + self.SERVICES + services)
        os.makedirs(os.path.join(w, "vmail"))
        shutil.chown(os.path.join(w, "vmail"), nobody.pw_uid, nobody.pw_gid)
        for name, text in (("transport", transport), ("aliases", aliases),
                           ("stsd-aliases", stsd_aliases)):
            with open(os.path.join(self.conf, name), "w") as f:
                f.write(text)
        r = st.run(["postmap", "-c", self.conf, "hash:" + os.path.join(self.conf, "transport")])
        assert r.returncode == 0, r
        r = st.run(["postalias", "-c", self.conf, "hash:" + os.path.join(self.conf, "aliases")])
        assert r.returncode == 0, r
        # the stsd user's alias file: its owner, and its database made as that user
        sa = os.path.join(self.conf, "stsd-aliases")
        shutil.chown(sa, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.conf, 0o777)  # room for postalias, running as the user, to write the .db
        r = st.run(["runuser", "-u", USER, "--", "postalias", "-c", self.conf, "hash:" + sa])
        os.chmod(self.conf, 0o755)
        assert r.returncode == 0, r

    def postfix(self, *args):
        return st.run(["postfix", "-c", self.conf] + list(args), timeout=60)

    def start(self):
        r = self.postfix("start")
        if r.returncode == 0:
            st.Cleanup.add(lambda: self.postfix("stop"))
        return r.returncode == 0 and st.wait_port("127.0.0.1", self.port, 10)

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def send(self, sender, rcpt, msg):
        """(RCPT reply code, queue id or None)."""
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
                          timeout=30) as s:
            s.mail(sender)
            code, _ = s.rcpt(rcpt)
            if code != 250:
                s.rset()
                return code, None
            code, resp = s.data(msg)
            m = re.search(rb"queued as (\w+)", resp)
            return code, m.group(1).decode() if m else None

    def wait_status(self, qid, rcpt, timeout=60):
        """The status= of the delivery of qid to rcpt in the mail log, once there."""
        pat = re.compile(r"%s: to=<%s>.*? status=(\w+) \((.*)\)" % (qid, re.escape(rcpt)))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = pat.findall(self.log())
            if found:
                return found[-1]
            time.sleep(0.2)
        return None, None

    def queue(self):
        r = st.run(["postqueue", "-c", self.conf, "-j"])
        return [json.loads(line) for line in r.out.splitlines() if line.strip()]


def reports_in(db, rid):
    return il.db_rows(db, "SELECT count(*) FROM reports WHERE report_id = ?", (rid,))[0][0]


def main(t):
    sec = readme_section()
    wrapper, master, transport, alias, plain = snippets(sec)
    t.ok(wrapper and master and transport and alias and plain,
         "README: the wrapper, the master.cf service, the transport line, the alias line and "
         "the plain argv", sec[:400])
    if not (wrapper and master and transport and alias and plain):
        return
    t.ok("flags=DR user=stsd argv=/usr/local/bin/stsd-ingest-mail" in master
         and "tlsrpt@example.com    stsd:" in transport,
         "README: the service runs the wrapper as stsd; tlsrpt@example.com goes to it",
         master + transport)

    w = st.tempdir("stsd-postfix-")
    os.chmod(w, 0o755)
    nobody = pwd.getpwnam(USER)
    s = st.Stsd(policies={})  # only its configuration and state directory are used
    os.chmod(s.dir, 0o755)
    os.chmod(s.config, 0o644)
    db = os.path.join(s.state_dir, "stsd.db")
    keep = os.path.join(s.state_dir, "rejected-mail")

    def own_state(uid, gid):
        for root, dirs, files in os.walk(s.state_dir):
            for p in [root] + [os.path.join(root, n) for n in files]:
                os.chown(p, uid, gid)
    own_state(nobody.pw_uid, nobody.pw_gid)

    # The README's texts with this test's paths, user and domain.
    def paths(text):
        return (text.replace("/usr/local/bin/stsd-ingest-mail", os.path.join(w, "stsd-ingest-mail"))
                .replace("/usr/local/bin/stsd ", st.STSD_BIN + " ")
                .replace("/etc/stsd/stsd.conf", s.config)
                .replace("/var/lib/stsd/rejected-mail", keep)
                .replace("user=stsd", "user=" + USER)
                .replace("example.com", "example.test"))
    with open(os.path.join(w, "stsd-ingest-mail"), "w") as f:
        f.write(paths(wrapper))
    os.chmod(os.path.join(w, "stsd-ingest-mail"), 0o755)
    ours = paths(master)
    services = ours
    # the same service with flags=F (a From_ line first), and the plain argv instead of the
    # wrapper: other service names for other recipients
    services += ours.replace("stsd      unix", "stsdfrom  unix").replace("flags=DR", "flags=FDR")
    services += re.sub(r"argv=.*", "argv=" + paths(plain),
                       ours.replace("stsd      unix", "stsdplain unix"))
    trans = paths(transport) + "from@example.test    stsdfrom:\nplain@example.test    stsdplain:\n" \
        "unknown@example.test    stsd:\n"
    # the README's alias line makes tlsrpt known; from and plain are known the same way
    aliases = "tlsrpt: root\nfrom: root\nplain: root\n"
    stsd_aliases = paths(alias).replace("tlsrpt:", "viaalias:", 1)

    # Sanitizer settings of the test run reach stsd through Postfix (export_environment);
    # the suppressions file is copied where the user can read it.
    env = {}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        v = os.environ.get(k)
        if not v:
            continue
        m = re.search(r"suppressions=([^:]+)", v)
        if m and os.path.exists(m.group(1)):
            copy = os.path.join(w, os.path.basename(m.group(1)))
            shutil.copy(m.group(1), copy)
            os.chmod(copy, 0o644)
            v = v.replace(m.group(1), copy)
        env[k] = v
    pf = Postfix(w, services, trans, aliases, stsd_aliases, env)
    t.ok(pf.start(), "postfix -c %s start: smtpd on 127.0.0.1:%d" % (pf.conf, pf.port),
         pf.log()[-2000:])

    # 1. A report for tlsrpt@: delivered through the wrapper, stored.
    code, qid = pf.send("reporter@sender.test", "tlsrpt@example.test", report_message("pf-1"))
    t.is_((code, qid is not None), (250, True), "report to tlsrpt@example.test: queued")
    status, why = pf.wait_status(qid, "tlsrpt@example.test")
    t.is_(status, "sent", "report: delivered by the stsd service (%s)" % why)
    t.is_(reports_in(db, "pf-1"), 1, "report: stored by stsd")
    t.is_(il.db_rows(db, "SELECT source FROM reports WHERE report_id = 'pf-1'"), [("email",)],
          "report: stored as source email")
    st_db = os.stat(db)
    t.is_((st_db.st_uid, st_db.st_gid), (nobody.pw_uid, nobody.pw_gid),
          "the database belongs to the stsd user")
    code, _ = pf.send("reporter@sender.test", "unknown@example.test", report_message("pf-x"))
    t.is_(code, 550, "an address in the transport map only (no alias line): refused, 550")

    # 2. flags=F: the From_ line Postfix puts first is dropped by stsd.
    code, qid = pf.send("reporter@sender.test", "from@example.test", report_message("pf-f"))
    status, why = pf.wait_status(qid, "from@example.test")
    t.is_((status, reports_in(db, "pf-f")), ("sent", 1), "flags=F: delivered and stored (%s)"
          % why)

    # 3. No report in the message: the wrapper keeps it, nothing bounces; the plain argv
    # bounces it to the sender.
    code, qid = pf.send("reporter@sender.test", "tlsrpt@example.test",
                        report_message("pf-bad-1", report=False))
    status, why = pf.wait_status(qid, "tlsrpt@example.test")
    t.is_(status, "sent", "no report, through the wrapper: delivered, not bounced (%s)" % why)
    kept = sorted(os.listdir(keep)) if os.path.isdir(keep) else []
    body = open(os.path.join(keep, kept[0]), "rb").read() if len(kept) == 1 else b""
    t.ok(len(kept) == 1 and b"<pf-bad-1@sender.test>" in body,
         "no report: the message is kept in the rejected folder (%s)" % kept)
    code, qid2 = pf.send("reporter@sender.test", "plain@example.test",
                         report_message("pf-bad-2", report=False))
    status, why = pf.wait_status(qid2, "plain@example.test")
    t.ok(status == "bounced" and "Command died with status 1" in why,
         "no report, plain argv: bounced, 'Command died with status 1'", (status, why))
    bounces = []
    end = time.monotonic() + 30
    newdir = os.path.join(w, "vmail", "sender", "new")
    while time.monotonic() < end and not bounces:
        bounces = [open(os.path.join(newdir, n), "rb").read()
                   for n in (os.listdir(newdir) if os.path.isdir(newdir) else [])]
        time.sleep(0.2)
    t.ok(len(bounces) == 1 and b"<pf-bad-2@sender.test>" in bounces[0]
         and b"no TLS-RPT report in the message" in bounces[0],
         "plain argv: the bounce reaches the reporter with stsd's reason; the wrapper's "
         "message caused none (%d bounces)" % len(bounces))
    t.ok("%s: sender non-delivery notification" % qid not in pf.log(),
         "the wrapper's message: no non-delivery notification in the log")

    # 4. The state directory not writable by the user: exit 75, deferred, then postqueue -f.
    own_state(0, 0)
    code, qa = pf.send("reporter@sender.test", "tlsrpt@example.test", report_message("pf-2"))
    code, qb = pf.send("reporter@sender.test", "plain@example.test", report_message("pf-3"))
    sa, whya = pf.wait_status(qa, "tlsrpt@example.test")
    sb, whyb = pf.wait_status(qb, "plain@example.test")
    t.is_((sa, sb), ("deferred", "deferred"),
          "state directory not writable: both deferred (%s / %s)" % (whya, whyb))
    t.ok("temporary failure" in whyb,
         "the plain argv: stsd itself exits 75 (Postfix: 'temporary failure')", whyb)
    q = {m["queue_id"]: m for m in pf.queue()}
    t.ok(qa in q and qb in q and all(q[i]["queue_name"] == "deferred" for i in (qa, qb)),
         "postqueue -j: both in the deferred queue", q)
    t.is_((reports_in(db, "pf-2"), reports_in(db, "pf-3")), (0, 0), "nothing stored meanwhile")
    own_state(nobody.pw_uid, nobody.pw_gid)
    r = st.run(["postqueue", "-c", pf.conf, "-f"])
    t.is_(r.returncode, 0, "postqueue -f")
    sa, _ = pf.wait_status(qa, "tlsrpt@example.test")
    sb, _ = pf.wait_status(qb, "plain@example.test")
    end = time.monotonic() + 30
    while time.monotonic() < end and (sa, sb) != ("sent", "sent"):
        time.sleep(0.2)
        sa, _ = pf.wait_status(qa, "tlsrpt@example.test")
        sb, _ = pf.wait_status(qb, "plain@example.test")
    t.is_((sa, sb), ("sent", "sent"), "after the fix and postqueue -f: both delivered")
    t.is_((reports_in(db, "pf-2"), reports_in(db, "pf-3")), (1, 1), "and stored")
    end = time.monotonic() + 10
    while time.monotonic() < end and pf.queue():
        time.sleep(0.2)
    t.is_(pf.queue(), [], "the queue is empty")

    # 5. A broken configuration (exit 78): the plain argv bounces (5.3.5); the wrapper defers,
    # and the message is stored once the configuration is fixed.
    good = open(s.config).read()
    with open(s.config, "a") as f:
        f.write("[reports]\nmin_free = banana\n")
    code, qc = pf.send("reporter@sender.test", "tlsrpt@example.test", report_message("pf-4"))
    code, qd = pf.send("reporter@sender.test", "plain@example.test", report_message("pf-5"))
    sc, whyc = pf.wait_status(qc, "tlsrpt@example.test")
    sd, whyd = pf.wait_status(qd, "plain@example.test")
    t.is_(sc, "deferred", "configuration broken, through the wrapper: deferred (%s)" % whyc)
    t.ok(sd == "bounced" and re.search(r"dsn=5\.3\.5, status=bounced", pf.log()),
         "configuration broken, plain argv: bounced with 5.3.5", (sd, whyd))
    with open(s.config, "w") as f:
        f.write(good)
    st.run(["postqueue", "-c", pf.conf, "-f"])
    end = time.monotonic() + 30
    while time.monotonic() < end and sc != "sent":
        time.sleep(0.2)
        sc, _ = pf.wait_status(qc, "tlsrpt@example.test")
    t.is_((sc, reports_in(db, "pf-4"), reports_in(db, "pf-5")), ("sent", 1, 0),
          "configuration fixed, postqueue -f: the wrapper's message stored, the bounced one not")

    # 6. The alias alternative: local(8) runs the |command with the alias file owner's rights.
    code, qid = pf.send("reporter@sender.test", "viaalias@alias.test", report_message("pf-a"))
    status, why = pf.wait_status(qid, "viaalias@alias.test")
    t.is_((status, reports_in(db, "pf-a")), ("sent", 1),
          "the alias file's |command: delivered and stored (%s)" % why)
    st_db = os.stat(db)
    t.is_((st_db.st_uid, reports_in(db, "pf-1")), (nobody.pw_uid, 1),
          "the database still the user's, every report once")
    bounced = re.findall(r"(\w+): to=<([^>]+)>.*? status=bounced", pf.log())
    t.is_(bounced, [(qid2, "plain@example.test"), (qd, "plain@example.test")],
          "the only bounces: the plain argv's")


if __name__ == "__main__":
    st.Tap().run(main)
