#!/usr/bin/env bash
# bench/policy.sh - policy GET throughput of `stsd serve` against Debian's nginx serving the
# same policy file with the same ECDSA P-256 certificate, both on 127.0.0.1 (different
# ports), both with 2 workers/threads and no access log. Runs are interleaved (stsd, nginx,
# stsd, nginx, ...) so that drift on a shared machine hits both alike.
#
#   bench/policy.sh                      # ROUNDS=3 DURATION=10 (seconds per run)
#   ROUNDS=1 DURATION=2 bench/policy.sh  # a quick sanity run
#   STSD_BIN=build-release/cli/stsd bench/policy.sh
#   ACME=tls-alpn-01 bench/policy.sh     # with [acme] challenge = tls-alpn-01's ClientHello hook
#
# Figures (median of the rounds):
#   h1   HTTP/1.1 keep-alive requests/s   wrk -t2 -c50
#   h2   HTTP/2 requests/s                h2load -c50 -m10 -t2
#   tls  new TLS connections/s            h2load --h1 -H 'Connection: close' -c50 -t2
#                                         -n TLS_REQUESTS (default DURATION * 2000)
#        (every request is a new TCP + TLS connection, the server closes after each
#         response; h2load resumes each client's previous session when the server issued a
#         ticket, so TICKETS=on measures resumed handshakes and TICKETS=off full ones)
# and the ratio stsd/nginx for each, plus the servers' CPU time per request (user + system
# from /proc, nginx master + workers), which a busy machine disturbs less than requests/s.
# Results go to stdout and bench/out/policy-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
# TICKETS=on (default): both servers resume TLS sessions by tickets, as both do by default, and
# h2load reuses each client's session on its next connection. TICKETS=off: neither issues
# tickets, so every connection of the tls figure is a full handshake (certificate + signature).
TICKETS=${TICKETS:-on}
case "$TICKETS" in on|off) ;; *) echo "bench: TICKETS must be on or off" >&2; exit 64 ;; esac
CONNS=${CONNS:-50}
TLS_REQUESTS=${TLS_REQUESTS:-$((DURATION * 2000))} # new connections per tls run
HOST=mta-sts.bench.test

. bench/lib.sh
bench_need wrk h2load nginx openssl curl
bench_stsd
OUT=$(bench_dir bench/out/policy-$(date -u +%Y%m%dT%H%M%S))

# One certificate (ECDSA P-256) for both servers.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
POLICY=$'version: STSv1\r\nmode: enforce\r\nmx: mail.bench.test\r\nmx: *.mx.bench.test\r\nmax_age: 604800\r\n'
printf '%s' "$POLICY" >"$OUT/mta-sts.txt"

# stsd: the policy and the certificate, also as default.pem (wrk sends no usable SNI for
# an IP address).
STSD_PORT=$(free_port)
mkdir -p "$OUT/stsd/policies" "$OUT/stsd/certs"
cp "$OUT/mta-sts.txt" "$OUT/stsd/policies/bench.test.txt"
cat "$OUT/cert.pem" "$OUT/key.pem" >"$OUT/stsd/certs/$HOST.pem"
cp "$OUT/stsd/certs/$HOST.pem" "$OUT/stsd/certs/default.pem"
chmod 600 "$OUT/stsd/certs/"*.pem
cat >"$OUT/stsd.conf" <<EOF
[server]
listen = 127.0.0.1:$STSD_PORT
state_dir = $OUT/stsd
threads = $THREADS
max_conn_per_address = 100000
[tls]
session_tickets = $TICKETS
[admin]
listen = off
[checks]
interval = off
EOF
# ACME=tls-alpn-01: serve with its acme-tls/1 ClientHello hook on every handshake (the
# directory is a closed port and the certificate is not due, so nothing is ordered).
if [ "${ACME:-off}" = tls-alpn-01 ]; then
  printf '[acme]\ndirectory = https://127.0.0.1:1/directory\nchallenge = tls-alpn-01\nrenew_before = 1d\n' >>"$OUT/stsd.conf"
fi
"$STSD_BIN" serve -c "$OUT/stsd.conf" 2>"$OUT/stsd.log" &
pids+=($!)
STSD_PID=$!

# nginx: its own prefix and config, 2 workers, no access log.
NGINX_PORT=$(free_port)
mkdir -p "$OUT/nginx/logs" "$OUT/nginx/tmp"
cat >"$OUT/nginx/nginx.conf" <<EOF
worker_processes $THREADS;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log warn;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/tmp/body;
  proxy_temp_path $OUT/nginx/tmp/proxy;
  fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
  scgi_temp_path $OUT/nginx/tmp/scgi;
  keepalive_requests 1000000;
  open_file_cache max=16 inactive=60s;  # nginx at its best: no open() per request
  open_file_cache_valid 60s;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    server_name $HOST;
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets $TICKETS;
    location = /.well-known/mta-sts.txt {
      default_type "text/plain; charset=utf-8";
      alias $OUT/mta-sts.txt;
    }
  }
}
EOF
chmod -R a+rX "$OUT/nginx" "$OUT/mta-sts.txt"
nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/logs/error.log" &
pids+=($!)
NGINX_PID=$!

# Both must serve the same bytes before anything is measured.
for port in $STSD_PORT $NGINX_PORT; do
  ok=0
  for _ in $(seq 100); do
    if curl -sfk -o "$OUT/fetched.txt" --resolve "$HOST:$port:127.0.0.1" \
         "https://$HOST:$port/.well-known/mta-sts.txt" 2>/dev/null \
       && cmp -s "$OUT/fetched.txt" "$OUT/mta-sts.txt"; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "bench: the server on port $port does not serve the policy" >&2; cat "$OUT/stsd.log" "$OUT/nginx/logs/error.log" >&2; exit 70; }
done

run_h1() {
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "Host: $HOST" \
    "https://127.0.0.1:$1/.well-known/mta-sts.txt" >"$OUT/run.txt" 2>&1
  awk '/^Requests\/sec:/ {print $2}' "$OUT/run.txt"
}
run_h2() {
  h2load -c"$CONNS" -m10 -t"$THREADS" -D"$DURATION" --connect-to="127.0.0.1:$1" \
    "https://$HOST:$1/.well-known/mta-sts.txt" >"$OUT/run.txt" 2>&1
  check_h2load
}
run_tls() {
  # A fixed count, not -D: h2load 1.52 never ends a -D run whose connections close.
  timeout $((DURATION * 20 + 60)) h2load --h1 -H 'Connection: close' -c"$CONNS" -t"$THREADS" \
    -n"$TLS_REQUESTS" --connect-to="127.0.0.1:$1" "https://$HOST:$1/.well-known/mta-sts.txt" \
    >"$OUT/run.txt" 2>&1 || true
  check_h2load
}
check_h2load() {
  # Refuse a figure with failed requests: it would not be comparable.
  if ! grep -Eq 'succeeded, 0 failed, 0 errored' "$OUT/run.txt"; then
    echo "bench: h2load reported failures:" >&2; grep -E '^requests:' "$OUT/run.txt" >&2
  fi
  awk '/^finished in/ {for (i=1;i<=NF;i++) if ($(i+1)=="req/s,") print $i}' "$OUT/run.txt"
}
# Server CPU time (user + system, clock ticks) of a process and its children (nginx workers):
# CPU per request is steadier than requests/s on a machine that others share.
cpu_ticks() {
  local t=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
requests_done() {
  if grep -q '^requests:' "$OUT/run.txt"; then
    awk '/^requests:/ {print $8}' "$OUT/run.txt"
  else
    awk '/requests in/ {print $1}' "$OUT/run.txt"
  fi
}
HZ=$(getconf CLK_TCK)
measure() { # kind port pid -> "req/s cpu_us_per_request"
  local c0 c1 v n
  c0=$(cpu_ticks "$3")
  v=$(run_"$1" "$2")
  c1=$(cpu_ticks "$3")
  n=$(requests_done)
  echo "$v $(awk -v d=$((c1 - c0)) -v n="${n:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "n/a" }')"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "stsd $("$STSD_BIN" --version 2>/dev/null || true) vs $(nginx -v 2>&1); rounds=$ROUNDS duration=${DURATION}s conns=$CONNS threads=$THREADS tickets=$TICKETS nproc=$(nproc)"
for kind in h1 h2 tls; do
  : >"$OUT/$kind.stsd"; : >"$OUT/$kind.nginx"; : >"$OUT/$kind.stsd.cpu"; : >"$OUT/$kind.nginx.cpu"
  for r in $(seq "$ROUNDS"); do
    read -r v vc < <(measure "$kind" "$STSD_PORT" "$STSD_PID")
    cp "$OUT/run.txt" "$OUT/$kind.stsd.$r.txt"; echo "$v" >>"$OUT/$kind.stsd"; echo "$vc" >>"$OUT/$kind.stsd.cpu"
    read -r w wc < <(measure "$kind" "$NGINX_PORT" "$NGINX_PID")
    cp "$OUT/run.txt" "$OUT/$kind.nginx.$r.txt"; echo "$w" >>"$OUT/$kind.nginx"; echo "$wc" >>"$OUT/$kind.nginx.cpu"
    echo "  $kind round $r: stsd $v/s (${vc} us CPU/req)  nginx $w/s (${wc} us CPU/req)"
  done
  s=$(median <"$OUT/$kind.stsd"); n=$(median <"$OUT/$kind.nginx")
  sc=$(median <"$OUT/$kind.stsd.cpu"); nc=$(median <"$OUT/$kind.nginx.cpu")
  ratio=$(awk -v s="$s" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", s / n; else print "n/a" }')
  cratio=$(awk -v s="$sc" -v n="$nc" 'BEGIN { if (s > 0) printf "%.2f", n / s; else print "n/a" }')
  printf '%-4s stsd %12s/s   nginx %12s/s   stsd/nginx %s   CPU/req stsd %s us nginx %s us (nginx/stsd %s)\n' \
    "$kind" "$s" "$n" "$ratio" "$sc" "$nc" "$cratio" | tee -a "$OUT/summary.txt"
done
echo "details: $OUT"
