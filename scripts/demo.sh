#!/usr/bin/env bash
# Build stsd and run `stsd serve` on a demo configuration: a self-signed certificate for
# mta-sts.example.com, one policy in testing mode, SQLite in ./demo/state.
# Then try:  curl -k --resolve mta-sts.example.com:8443:127.0.0.1 \
#                 https://mta-sts.example.com:8443/.well-known/mta-sts.txt
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
[ -d build-release ] || meson setup build-release --buildtype=release -Dtests=false >/dev/null
ninja -C build-release >/dev/null
root="$PWD/demo"
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
cat > "$root/stsd.conf" <<CONF
[server]
listen = 127.0.0.1:8443
state_dir = $state
[reports]
accept = hosted
[admin]
listen = 127.0.0.1:8080
[checks]
; the demo domain is not yours: no scheduled self-checks (set e.g. 6h for real domains)
interval = off
CONF
stsd="$PWD/build-release/cli/stsd"
[ -f "$state/policies/$domain.txt" ] ||
  "$stsd" -c "$root/stsd.conf" policy set "$domain" --mode testing \
    --mx mail.$domain --mx '*.mx.'$domain --max-age 604800
echo "== the DNS records to publish for $domain:"
"$stsd" -c "$root/stsd.conf" policy dns "$domain" || true
cat <<MSG

== stsd is starting on https://127.0.0.1:8443 (Ctrl-C stops it). In another shell:
   curl -k --resolve mta-sts.$domain:8443:127.0.0.1 https://mta-sts.$domain:8443/.well-known/mta-sts.txt
   curl -k --resolve mta-sts.$domain:8443:127.0.0.1 -H 'Content-Type: application/tlsrpt+json' \\
        --data-binary @tests/data/tlsrpt/valid/phi-rfc.json https://mta-sts.$domain:8443/tlsrpt
   $stsd -c $root/stsd.conf reports summary
   dashboard: http://127.0.0.1:8080/?token=\$(cat $state/admin.token)   (token made on first start)
MSG
exec "$stsd" -c "$root/stsd.conf" serve
