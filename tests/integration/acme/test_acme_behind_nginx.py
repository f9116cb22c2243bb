#!/usr/bin/env python3
"""test_acme_behind_nginx.py - the README's answer for a host whose port 80 belongs to a web
server: nginx keeps port 80 (its own site stays there) and passes /.well-known/acme-challenge/
of the mta-sts names to stsd's http-01 listener on loopback. The nginx server block is the one
printed in README.md (read from it; only the ports are changed), so the README is what is
tested. pebble validates http-01 against nginx's port: the certificate is issued through
nginx (its access log shows pebble's challenge fetch answered 200), the web server's own site
still answers, and the mta-sts names get 404 for anything else."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acmelib as al  # noqa: E402
from acmelib import pl, st  # noqa: E402


def readme_nginx_block():
    with open(os.path.join(st.SOURCE_ROOT, "README.md")) as f:
        text = f.read()
    sec = text[text.index("### A host that already runs a web server on port 80"):]
    m = re.search(r"```nginx\n(.*?)```", sec, re.S)
    return m.group(1) if m else None


def main(t):
    block = readme_nginx_block()
    t.ok(block is not None and "proxy_pass http://127.0.0.1:8081;" in block,
         "README has the nginx server block, passing to 127.0.0.1:8081", block)
    if block is None:
        return
    p80, p_stsd = st.free_port(), st.free_port()
    work = st.tempdir("stsd-nginx-")
    os.chmod(work, 0o755)
    ours = block.replace("listen 80;", "listen 127.0.0.1:%d;" % p80)
    ours = re.sub(r"\n\s*listen \[::\]:80;", "", ours)
    ours = ours.replace("127.0.0.1:8081", "127.0.0.1:%d" % p_stsd)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""user root;
daemon off;
worker_processes 1;
pid %(w)s/nginx.pid;
error_log %(w)s/error.log;
events { worker_connections 64; }
http {
    access_log %(w)s/access.log;
    client_body_temp_path %(w)s/body;
    proxy_temp_path %(w)s/proxy;
    fastcgi_temp_path %(w)s/fastcgi;
    uwsgi_temp_path %(w)s/uwsgi;
    scgi_temp_path %(w)s/scgi;
    # the web server's own site (the default server of the port)
    server {
        listen 127.0.0.1:%(port)d default_server;
        server_name www.example.test;
        location / { return 200 "the web site\\n"; }
    }
%(ours)s
}
""" % {"w": work, "port": p80, "ours": ours})
    r = st.run(["nginx", "-t", "-c", conf, "-p", work])
    t.is_(r.returncode, 0, "nginx -t accepts the README's block")
    ng = subprocess.Popen(["nginx", "-c", conf, "-p", work], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    st.Cleanup.add(lambda: st._kill_proc(ng))
    t.ok(st.wait_port("127.0.0.1", p80, 10, ng), "nginx listens", open(
        os.path.join(work, "error.log")).read() if os.path.exists(
            os.path.join(work, "error.log")) else "")

    pb = pl.Pebble(http_port=p80).start()
    s = al.serve(["web.test"], pb.acme_config("http-01", "127.0.0.1:%d" % p_stsd))
    got = pl.wait_served_by(pb, s.port, "mta-sts.web.test", 30)
    t.ok(got is not None, "the certificate is issued through nginx", s.log()[-2000:])
    r = al.curl_policy(s, "web.test", pb.root)
    t.is_((r.status, r.body), (200, al.policy_file(s, "web.test")),
          "curl --cacert <pebble root> gets the policy")
    log = open(os.path.join(work, "access.log")).read()
    fetches = re.findall(r'"GET /\.well-known/acme-challenge/[A-Za-z0-9_-]+ HTTP/1\.1" (\d+)',
                         log)
    t.ok(fetches[:1] == ["200"], "nginx's access log: pebble's challenge fetch answered 200",
         log[-2000:])
    site = st.curl("http://127.0.0.1:%d/" % p80, headers=["Host: www.example.test"])
    t.is_((site.status, site.body), (200, b"the web site\n"), "the web site still answers")
    other = st.curl("http://127.0.0.1:%d/" % p80, headers=["Host: mta-sts.web.test"])
    t.is_(other.status, 404, "an mta-sts name gets 404 for anything else on port 80")
    unknown = st.curl("http://127.0.0.1:%d/.well-known/acme-challenge/nosuchtoken" % p80,
                      headers=["Host: mta-sts.web.test"])
    t.is_(unknown.status, 404, "an unknown token passed through to stsd: 404")
    t.is_(s.stop(), 0, "SIGTERM: exit 0")


st.Tap().run(main)
