#!/usr/bin/env bash
# bench/mail.sh - how fast does `stsd reports ingest` take e-mailed reports, with DKIM?
#
# Builds an mbox and a Maildir of N messages (default 5,000), each carrying one distinct
# gzip report (and so stored, not a duplicate), three ways: unsigned (DKIM result none, no
# verification work), DKIM-signed by reporter.test with python3-dkim (one 2048-bit RSA key,
# published by a real unbound on loopback: one key lookup for the whole run, then one RSA
# verify and a body hash per message), and signed by 50 different domains (50 key lookups).
# Each is ingested into a fresh database by a release build, under /usr/bin/time -v: wall
# seconds, messages/s, peak RSS, user+system CPU.
#
#   bench/mail.sh                 N=5000
#   N=20000 bench/mail.sh
#   STSD_BIN=path/to/stsd         a release stsd (default: build-bench/, made here)
#   KEEP=1                        keep bench/out/mail-PID/ (the inputs, for a profile)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_need unbound /usr/bin/time /usr/bin/python3 openssl bc
/usr/bin/python3 -c 'import dkim' 2>/dev/null || { echo "bench: python3-dkim is missing (bash scripts/deps.sh test)" >&2; exit 69; }
bench_stsd
n=${N:-5000}
dir=$(bench_dir "bench/out/mail-$$")
trap 'cleanup; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT

# The keys, the messages and the unbound configuration, written by python.
/usr/bin/python3 - "$dir" "$n" <<'EOF'
import base64, gzip, json, os, subprocess, sys
import dkim
d, n = sys.argv[1], int(sys.argv[2])
key = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
with open(os.path.join(d, "key.pem"), "wb") as f:
    f.write(key)
pub = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=key,
                     capture_output=True, check=True).stdout
p = base64.b64encode(pub).decode()
txt = "v=DKIM1; k=rsa; p=" + p
chunks = " ".join('"%s"' % txt[i:i + 250] for i in range(0, len(txt), 250))
domains = ["reporter.test"] + ["r%d.test" % i for i in range(50)]
with open(os.path.join(d, "records"), "w") as f:
    for dom in domains:
        f.write("sel._domainkey.%s. TXT %s\n" % (dom, chunks))

def message(i, signer):
    rep = {"organization-name": "Bench Mailer", "report-id": "bench-mail-%d" % i,
           "contact-info": "tlsrpt@reporter.test",
           "date-range": {"start-datetime": "2026-12-01T00:00:00Z",
                          "end-datetime": "2026-12-01T23:59:59Z"},
           "policies": [{"policy": {"policy-type": "sts", "policy-domain": "a.test",
                                    "policy-string": ["version: STSv1", "mode: enforce",
                                                      "mx: mx.a.test", "max_age: 86400"],
                                    "mx-host": ["mx.a.test"]},
                         "summary": {"total-successful-session-count": 100 + i,
                                     "total-failure-session-count": i % 3},
                         "failure-details": []}]}
    att = base64.encodebytes(gzip.compress(json.dumps(rep).encode())).decode()
    frm = signer or "reporter.test"
    m = ("From: noreply@%s\r\nTo: tlsrpt@a.test\r\nSubject: Report Domain: a.test Submitter: "
         "%s Report-ID: <bench-mail-%d>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
         "Message-ID: <bench-%d@%s>\r\nTLS-Report-Domain: a.test\r\nTLS-Report-Submitter: %s\r\n"
         "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; "
         "boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nA TLS report.\r\n--b\r\n"
         "Content-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n"
         % (frm, frm, i, i, frm, frm, att)).encode()
    if signer:
        m = dkim.sign(m, b"sel", signer.encode(), key,
                      include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + m
    return m

for kind in ("unsigned", "signed", "signed50"):
    os.makedirs(os.path.join(d, kind, "md", "cur"))
    os.makedirs(os.path.join(d, kind, "md", "new"))
    with open(os.path.join(d, kind, "box.mbox"), "wb") as mb:
        for i in range(n):
            signer = None if kind == "unsigned" else (
                "reporter.test" if kind == "signed" else domains[1 + i % 50])
            m = message(i, signer)
            with open(os.path.join(d, kind, "md", "cur", "%08d.eml" % i), "wb") as f:
                f.write(m)
            mb.write(b"From bench@reporter.test Mon Dec  7 10:00:00 2026\n")
            mb.write(m.replace(b"\r\n", b"\n") + b"\n")
EOF

port=$(free_port)
{
  printf 'server:\n  interface: 127.0.0.1\n  port: %s\n  do-daemonize: no\n  username: ""\n' "$port"
  printf '  chroot: ""\n  directory: "%s"\n  pidfile: ""\n  use-syslog: no\n  do-ip6: no\n' "$dir"
  printf '  module-config: "iterator"\n  access-control: 127.0.0.0/8 allow\n  num-threads: 1\n'
  printf '  local-zone: "test." static\n'
  while IFS= read -r r; do printf "  local-data: '%s'\n" "$r"; done <"$dir/records"
  printf 'remote-control:\n  control-enable: no\n'
} >"$dir/unbound.conf"
unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
pids+=($!)
sleep 1

run() { # kind input
  local kind=$1 input=$2 st="$dir/state-$1-$(basename "$2")"
  mkdir -p "$st"
  printf '[server]\nstate_dir = %s\n[checks]\nresolver = 127.0.0.1@%s\n' "$st" "$port" >"$st/stsd.conf"
  /usr/bin/time -v "$STSD_BIN" -c "$st/stsd.conf" reports ingest "$input" >"$st/out" 2>"$st/time"
  local wall rss cpu stored
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$st/time")
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2/1024}' "$st/time")
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$st/time")
  stored=$(grep -c '^stored' "$st/out" || true)
  printf '%-9s %-8s %6d msgs  %7.2f s  %8.0f msgs/s  cpu %6s s  peak RSS %6s MB  stored %d  dkim: %s\n' \
    "$kind" "$(basename "$input")" "$n" "$wall" "$(echo "$n / $wall" | bc -l)" "$cpu" "$rss" "$stored" \
    "$(grep -o 'dkim=[a-z]*' "$st/out" | sort | uniq -c | tr -s ' ' | tr '\n' ',' )"
}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(nproc) cores, $("$STSD_BIN" --version 2>/dev/null | head -1), N=$n"
for kind in unsigned signed signed50; do
  run "$kind" "$dir/$kind/box.mbox"
  run "$kind" "$dir/$kind/md"
done
