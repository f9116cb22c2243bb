#!/usr/bin/env bash
# Build stsd and run `stsd serve` on a demo configuration: a self-signed certificate for
# mta-sts.example.com, one policy in testing mode, SQLite in ./demo/state, and a TLS-RPT
# report for example.com to post. It prints the DNS records to publish and a few commands to
# try in another shell, each with what it answers; Ctrl-C stops the server.
#
# Environment (the demo test runs it this way; the defaults suit a person):
#   DEMO_DIR=DIR          where the configuration and state go (default ./demo)
#   DEMO_PORT=N           HTTPS port (default 8443); DEMO_ADMIN_PORT=N admin port (default 8080)
#   DEMO_STSD=PATH        an stsd already built: no package check, no build
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DEMO_STSD:-}" ]; then
  stsd=$DEMO_STSD
else
  bash scripts/deps.sh build
  [ -d build-release ] || meson setup build-release --buildtype=release -Dtests=false >/dev/null
  ninja -C build-release >/dev/null
  stsd="$PWD/build-release/cli/stsd"
fi
root=${DEMO_DIR:-$PWD/demo}
mkdir -p "$root"
root=$(cd "$root" && pwd)
port=${DEMO_PORT:-8443}
admin_port=${DEMO_ADMIN_PORT:-8080}
state="$root/state"
mkdir -p "$state/policies" "$state/certs"
domain=example.com
if [ ! -f "$state/certs/mta-sts.$domain.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=mta-sts.$domain" -addext "subjectAltName=DNS:mta-sts.$domain" \
    -keyout "$state/certs/key.tmp" -out "$state/certs/crt.tmp" 2>/dev/null
  cat "$state/certs/crt.tmp" "$state/certs/key.tmp" > "$state/certs/mta-sts.$domain.pem"
  chmod 600 "$state/certs/mta-sts.$domain.pem"
  rm -f "$state/certs/key.tmp" "$state/certs/crt.tmp"
fi
# The admin token, made here rather than on the server's first start so that the dashboard
# address printed below is complete.
if [ ! -s "$state/admin.token" ]; then
  (umask 077 && openssl rand -hex 32 > "$state/admin.token")
fi
cat > "$root/stsd.conf" <<CONF
[server]
listen = 127.0.0.1:$port
state_dir = $state
[reports]
accept = hosted
[admin]
listen = 127.0.0.1:$admin_port
[checks]
; the demo domain is not yours: no scheduled self-checks (set e.g. 6h for real domains)
interval = off
CONF
[ -f "$state/policies/$domain.txt" ] ||
  "$stsd" -c "$root/stsd.conf" policy set "$domain" --mode testing \
    --mx mail.$domain --mx '*.mx.'$domain --max-age 604800
# A report as a sending MTA would post it for yesterday: 95 sessions to mail.example.com
# succeeded, 5 failed on an expired certificate. Its report-id is new on every run of the
# demo, so the first POST stores it (201) and the same POST again is a duplicate (200).
day=$(date -u -d yesterday +%F)
cat > "$root/report.json" <<JSON
{
  "organization-name": "Demo Sender",
  "date-range": {"start-datetime": "${day}T00:00:00Z", "end-datetime": "${day}T23:59:59Z"},
  "contact-info": "tlsrpt@sender.example",
  "report-id": "demo-$(date -u +%Y%m%dT%H%M%S)-$$",
  "policies": [{
    "policy": {
      "policy-type": "sts",
      "policy-string": ["version: STSv1", "mode: testing", "mx: mail.$domain",
                        "mx: *.mx.$domain", "max_age: 604800"],
      "policy-domain": "$domain",
      "mx-host": ["mail.$domain", "*.mx.$domain"]
    },
    "summary": {"total-successful-session-count": 95, "total-failure-session-count": 5},
    "failure-details": [{
      "result-type": "certificate-expired",
      "sending-mta-ip": "192.0.2.25",
      "receiving-mx-hostname": "mail.$domain",
      "receiving-ip": "198.51.100.10",
      "failed-session-count": 5
    }]
  }]
}
JSON
echo "== the DNS records to publish for $domain:"
"$stsd" -c "$root/stsd.conf" policy dns "$domain" || true
resolve="--resolve mta-sts.$domain:$port:127.0.0.1"
# The examples: a comment saying what each answers, then the command. Keep the form
# '# what (answers ...):' + one command line: tests/integration/serve/test_serve_demo.py runs
# every command as printed and checks the answer named in its comment.
cat <<MSG

== stsd is starting on https://127.0.0.1:$port (Ctrl-C stops it). In another shell:
   # the policy as senders fetch it (answers HTTP 200 with the policy):
   curl -ski $resolve https://mta-sts.$domain:$port/.well-known/mta-sts.txt
   # post a TLS-RPT report for $domain (answers HTTP 201; the same again: 200 duplicate):
   curl -ski $resolve -H 'Content-Type: application/tlsrpt+json' --data-binary @$root/report.json https://mta-sts.$domain:$port/tlsrpt
   # what the stored reports say (the report posted above: 95 successful and 5 failed sessions):
   $stsd -c $root/stsd.conf reports summary
   # the dashboard: open this address in a browser (answers HTTP 303 on to the dashboard):
   http://127.0.0.1:$admin_port/?token=$(cat "$state/admin.token")
MSG
exec "$stsd" -c "$root/stsd.conf" serve
