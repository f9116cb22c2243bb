"""Helpers of the IMAP pull tests (python3 stdlib only): Debian's dovecot started from a private
configuration on a loopback port (IMAPS with a test CA, one test user, Maildir), an imaplib
client over IMAPS, and messages carrying distinct TLS-RPT reports made from the samples."""

import copy
import email.message
import email.policy
import gzip
import imaplib
import json
import os
import pwd
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["STSD_SOURCE_ROOT"], "tests/integration/lib"))
import stsdtest as st  # noqa: E402

USER = "tlsrpt"
PASSWORD = "s3cret-pass"
USER_AT = "tlsrpt@example.com"  # a login with '@': percent-encoded in the URL
TLSRPT = os.path.join(st.TEST_DATA, "tlsrpt")
DOVECOT = "/usr/sbin/dovecot"


class Dovecot:
    """dovecot (run as root, its mail processes as the dovecot user) with IMAPS on
    127.0.0.1:port and plain IMAP on 127.0.0.1:plain_port, the user USER/PASSWORD and its
    Maildir under the temp dir. The namespace keeps dovecot's default hierarchy separator ".",
    so stsd's "TLSRPT/done" is "TLSRPT.done" on the server."""

    def __init__(self, capability=None):
        """capability: the IMAP capabilities to announce instead of dovecot's own."""
        self.dir = st.tempdir("stsd-dovecot-")
        os.chmod(self.dir, 0o755)  # its auth and mail processes run as other users
        self.ca = st.TestCA(os.path.join(self.dir, "ca"))
        leaf = self.ca.issue("127.0.0.1", sans=["IP:127.0.0.1", "localhost"])
        os.chmod(os.path.join(self.dir, "ca"), 0o755)
        self.port = st.free_port()
        self.plain_port = st.free_port()  # plain IMAP (loopback: dovecot allows its logins)
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        dv = pwd.getpwnam("dovecot")
        os.chown(home, dv.pw_uid, dv.pw_gid)
        self.maildir = os.path.join(home, USER, "Maildir")
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("%s:{PLAIN}%s::::::\n" % (USER, PASSWORD))
            f.write("%s:{PLAIN}%s::::::\n" % (USER_AT, PASSWORD))
        os.chmod(passwd, 0o644)
        run = os.path.join(self.dir, "run")
        os.makedirs(run, mode=0o755)
        self.log = os.path.join(self.dir, "dovecot.log")
        self.config = os.path.join(self.dir, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write("""
base_dir = {run}
state_dir = {run}/state
log_path = {log}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
first_valid_uid = 1
auth_mechanisms = plain
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={home}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    port = {plain_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""".format(run=run, log=self.log, cert=leaf["chain"], key=leaf["key"], passwd=passwd,
           home=home, port=self.port, plain_port=self.plain_port))
            if capability:
                f.write("imap_capability = %s\n" % capability)
        os.chmod(leaf["key"], 0o644)
        out = open(os.path.join(self.dir, "dovecot.out"), "wb")
        # -F: in the foreground, a child of this test, stopped by it
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, start_new_session=True)
        out.close()
        st.Cleanup.add(self.stop)
        if not st.wait_port("127.0.0.1", self.port, timeout=15, proc=self.proc):
            raise RuntimeError("dovecot does not listen:\n" + self.logtext())

    def logtext(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, folder=""):
        return "imaps://%s@127.0.0.1:%d/%s" % (USER, self.port, folder)

    def client(self):
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=ctx, timeout=60)
        c.login(USER, PASSWORD)
        return c

    def append(self, messages, folder="INBOX"):
        c = self.client()
        for m in messages:
            typ, _ = c.append(folder, None, None, m)
            if typ != "OK":
                raise RuntimeError("APPEND failed")
        c.logout()

    def count(self, folder):
        """Messages in folder (None when it does not exist)."""
        c = self.client()
        typ, data = c.status(folder, "(MESSAGES)")
        c.logout()
        if typ != "OK":
            return None
        text = data[0].decode()
        return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))

    def counts(self):
        return {f: self.count(f) for f in ("INBOX", "TLSRPT.done", "TLSRPT.rejected")}


def sample_reports():
    """The valid sample reports (parsed JSON), sorted by file name."""
    d = os.path.join(TLSRPT, "valid")
    out = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".json"):
            with open(os.path.join(d, n), "rb") as f:
                raw = f.read()
            try:
                out.append(json.loads(raw.decode("utf-8-sig")))
            except ValueError:
                continue
    return out


def distinct_reports(n, tag):
    """n reports with distinct report-ids (tag makes them distinct across tests), cycling over
    the samples."""
    base = sample_reports()
    out = []
    for i in range(n):
        r = copy.deepcopy(base[i % len(base)])
        r["report-id"] = "imap-%s-%05d" % (tag, i)
        out.append(r)
    return out


def report_message(rep, gz, i):
    """An RFC 5322 message carrying rep as application/tlsrpt+gzip (gz) or +json."""
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = "reporter@reporter.test"
    m["To"] = "tlsrpt@a.test"
    m["Subject"] = "Report Domain: a.test Submitter: reporter.test Report-ID: <%d>" % i
    m["TLS-Report-Domain"] = "a.test"
    m["TLS-Report-Submitter"] = "reporter.test"
    m["Message-ID"] = "<imap-%d@reporter.test>" % i
    m.set_content("This is an aggregate TLS report.\n")
    body = json.dumps(rep).encode()
    if gz:
        m.add_attachment(gzip.compress(body), maintype="application", subtype="tlsrpt+gzip",
                         filename="report-%d.json.gz" % i)
    else:
        m.add_attachment(body, maintype="application", subtype="tlsrpt+json",
                         filename="report-%d.json" % i)
    return m.as_bytes()


def unusable_messages():
    """Five messages nothing can be stored from: no report part, invalid JSON, corrupt gzip,
    not a message at all, a report with a bad field."""
    out = []
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = "someone@example.test"
    m["Subject"] = "hello"
    m.set_content("no report here\n")
    out.append(m.as_bytes())

    def with_part(data, subtype, name):
        m = email.message.EmailMessage(policy=email.policy.SMTP)
        m["From"] = "reporter@reporter.test"
        m["Subject"] = "Report Domain: a.test"
        m.set_content("report attached\n")
        m.add_attachment(data, maintype="application", subtype=subtype, filename=name)
        return m.as_bytes()

    out.append(with_part(b'{"organization-name": "x", ', "tlsrpt+json", "bad.json"))
    good = gzip.compress(json.dumps(sample_reports()[0]).encode())
    out.append(with_part(good[:20] + b"\x00" * 40 + good[60:], "tlsrpt+gzip", "bad.json.gz"))
    out.append(b"\x00\x01\x02 this is not a message \xff\xfe\r\n\r\n")
    bad = copy.deepcopy(sample_reports()[0])
    bad["report-id"] = "imap-bad-field"
    bad["date-range"]["start-datetime"] = "not a date"
    out.append(with_part(json.dumps(bad).encode(), "tlsrpt+json", "badfield.json"))
    return out


def fetch(config, timeout=300):
    return st.run([st.STSD_BIN, "reports", "-c", config, "fetch"], timeout=timeout)


def stored_reports(config):
    """report-ids of every stored report (reports list --json over all time)."""
    r = st.run([st.STSD_BIN, "reports", "-c", config, "list", "--json", "--since",
                "1970-01-01", "--until", "2100-01-01"], timeout=60)
    if r.returncode != 0:
        raise RuntimeError("reports list failed: %r" % r)
    return [x["report_id"] for x in json.loads(r.out)["reports"]]


def write_config(directory, dovecot, extra="", ca=True, password=PASSWORD, folder=""):
    """A configuration with [mail] imap pointing at dovecot; returns its path."""
    state = os.path.join(directory, "state")
    os.makedirs(state, exist_ok=True)
    pw = os.path.join(directory, "imap-password")
    with open(pw, "w") as f:
        f.write(password + "\n")
    os.chmod(pw, 0o600)
    path = os.path.join(directory, "stsd.conf")
    lines = ["[server]", "state_dir = " + state, "[reports]", "keep = off", "[checks]",
             "interval = off", "[mail]", "imap = " + dovecot.url(folder),
             "password_file = " + pw]
    if ca:
        lines.append("ca_file = " + dovecot.ca.cert)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra + "\n")
    return path
