#!/usr/bin/env bash
# bench/ingest.sh - how fast does `stsd serve` take TLS-RPT reports over HTTPS?
#
#   1. reports/s over HTTPS/1.1 keep-alive, every report distinct and committed before its
#      201 (target >= 10,000/s);
#   2. reports/s with a new TLS connection per report, next to the bare handshake rate of the
#      same server (GET of the policy URL with Connection: close, by the same client and by
#      h2load) (target >= 90% of it);
#   3. p50/p99 latency at 1,000 reports/s (target p99 < 50 ms);
#   4. the server's peak RSS during a 100,000-report burst (target < 100 MB);
#   5. the in-process parse + store rate (no HTTP, no TLS) over the sample reports.
#
# Why a client of our own (bench/ingest_client.c, OpenSSL + threads, compiled here): h2load
# sends the same body every time, and every report after the first would be a duplicate
# (200) that never reaches an INSERT. Our client builds each body in memory with its own
# report-id. h2load is still used for the bare handshake rate.
#
#   bench/ingest.sh [--quick]     --quick: 2 s per step and a 5,000-report burst
#   STSD_BUILD=build-release      build directory (default build-release, else build); the
#                                 in-process bench links its static libraries
#   THREADS=0 CONNS=64            server loop threads (0 = one per core), client connections
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
dur=10 burst=100000 inproc_n=100000
[ $quick -eq 1 ] && { dur=2; burst=5000; inproc_n=10000; }
conns=${CONNS:-64}

build=${STSD_BUILD:-}
if [ -z "$build" ]; then
  for c in build-release build; do [ -x "$c/cli/stsd" ] && { build=$c; break; }; done
fi
[ -x "${build:-}/cli/stsd" ] || { echo "bench/ingest.sh: no stsd build (set STSD_BUILD)" >&2; exit 1; }
build=$(cd "$build" && pwd)
stsd=$build/cli/stsd
for tool in h2load openssl python3 /usr/bin/time cc; do
  command -v "$tool" >/dev/null || { echo "bench/ingest.sh: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/stsd-bench-ingest.XXXXXX)
time_pid=""
cleanup() {
  if [ -n "$time_pid" ] && kill -0 "$time_pid" 2>/dev/null; then
    kill -TERM "$(server_pid)" 2>/dev/null || true
    wait "$time_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
server_pid() { pgrep -P "$time_pid" | head -1; }
trap cleanup EXIT INT TERM

# --- the two C programs
cc -O2 -o "$work/client" bench/ingest_client.c -lssl -lcrypto -lpthread
cc -O2 -D_GNU_SOURCE -I. -o "$work/inproc" bench/ingest_inproc.c tests/unit/reports/reports_test.c \
  "$build/reports/libstsd_reports.a" "$build/sql/libstsd_sql.a" \
  "$build/reports/libstsd_reports_types.a" \
  "$build/policy/libstsd_policy.a" "$build/common/libstsd_common.a" \
  $(pkg-config --libs jansson zlib sqlite3 gmime-3.0 libcrypto) -lpthread

# --- a server: test CA, ECDSA P-256 certificate for mta-sts.a.test (also the default
# certificate: h2load connects to 127.0.0.1 and sends no SNI), one hosted domain
state=$work/state
mkdir -p "$state/policies" "$state/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
  -out "$work/ca.pem" -days 2 -subj "/CN=stsd bench CA" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -out "$work/leaf.csr" -subj "/CN=mta-sts.a.test" >/dev/null 2>&1
printf 'subjectAltName=DNS:mta-sts.a.test\n' >"$work/ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/leaf.pem" >/dev/null 2>&1
cat "$work/leaf.pem" "$work/leaf.key" >"$state/certs/mta-sts.a.test.pem"
cp "$state/certs/mta-sts.a.test.pem" "$state/certs/default.pem"
chmod 600 "$state/certs/"*.pem
printf 'version: STSv1\nmode: enforce\nmx: mx1.a.test\nmax_age: 86400\n' >"$state/policies/a.test.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/stsd.conf" <<EOF
[server]
listen = 127.0.0.1:$port
state_dir = $state
threads = ${THREADS:-0}
[admin]
listen = off
[reports]
accept = hosted
[checks]
interval = off
EOF
/usr/bin/time -v -o "$work/time.txt" "$stsd" serve -c "$work/stsd.conf" 2>"$work/serve.log" &
time_pid=$!
for _ in $(seq 200); do
  grep -q "event=serve.ready" "$work/serve.log" && break
  kill -0 "$time_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.05
done
spid=$(server_pid)
client() { "$work/client" --port "$port" --cafile "$work/ca.pem" "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$spid/status"; }
echo "stsd $("$stsd" --version 2>/dev/null | head -1 || true) ($build), $(nproc) cores, server threads=${THREADS:-0}, client connections=$conns, ${dur}s per step"

# warm-up
client --conns 8 --total 2000 --prefix warm >/dev/null

# 1. keep-alive
ka=$(client --conns "$conns" --duration "$dur" --prefix ka)
echo "keep-alive:        $(field "$ka" created_per_s) reports/s stored (201), p50 $(field "$ka" p50_ms) ms, p99 $(field "$ka" p99_ms) ms, errors $(field "$ka" errors)"

# 2. a new TLS connection per report, and the bare handshake rate of the same server
nc_conns=$(( conns < 16 ? conns : 16 ))
nc=$(client --conns "$nc_conns" --duration "$dur" --new-conn --prefix nc)
hs=$(client --conns "$nc_conns" --duration "$dur" --new-conn --get --path /.well-known/mta-sts.txt)
h2=$(h2load --h1 -H 'Connection: close' -H 'Host: mta-sts.a.test' -c "$nc_conns" \
       -n "$(python3 -c "print(max(1000, int($(field "$hs" created_per_s) * $dur)))")" \
       "https://127.0.0.1:$port/.well-known/mta-sts.txt" 2>/dev/null |
     awk '/^finished in/ {print $4}')
ncr=$(field "$nc" created_per_s); hsr=$(field "$hs" created_per_s)
echo "new connection:    $ncr reports/s; bare handshake (GET policy, Connection: close): $hsr/s (ingest_client), ${h2:-?}/s (h2load); ratio $(python3 -c "print('%.0f%%' % (100.0 * $ncr / $hsr))")"

# 3. latency at 1,000 reports/s
lat=$(client --conns "$conns" --duration "$dur" --rps 1000 --prefix lat)
echo "at 1,000/s:        $(field "$lat" created_per_s) reports/s, p50 $(field "$lat" p50_ms) ms, p90 $(field "$lat" p90_ms) ms, p99 $(field "$lat" p99_ms) ms, max $(field "$lat" max_ms) ms"

# 4. RSS during a burst
before=$(hwm)
b=$(client --conns "$conns" --total "$burst" --prefix burst)
after=$(hwm)
echo "burst of $burst:    $(field "$b" created_per_s) reports/s, server VmHWM $((before / 1024)) MB before, $((after / 1024)) MB after"

rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM reports").fetchone()[0])' "$state/stsd.db")
sent201=$(python3 -c "print(2000 + $(field "$ka" created) + $(field "$nc" created) + $(field "$lat" created) + $(field "$b" created))")
echo "database:          $rows rows for $sent201 answers 201 $([ "$rows" = "$sent201" ] && echo '(all there)' || echo '(MISMATCH)')"
kill -TERM "$spid"
wait "$time_pid" || true
echo "server:            max RSS $(awk -F': ' '/Maximum resident/ {print int($2/1024)}' "$work/time.txt") MB (/usr/bin/time -v), $(grep -c 'event=report.stored' "$work/serve.log") report.stored log lines"

# 5. in process
ip=$("$work/inproc" "$work/inproc.db" "$inproc_n" tests/data/tlsrpt/valid/*.json)
echo "in-process:        $(field "$ip" per_s) reports/s parse+store over $(field "$ip" samples) samples (parse alone $(field "$ip" parse_per_s)/s, store alone $(field "$ip" store_per_s)/s)"
echo
echo "RESULTS.md: | $(date -u +%Y-%m-%d) | $(nproc) cores | keep-alive $(field "$ka" created_per_s)/s | new-conn $ncr/s vs handshake $hsr/s | p99@1000/s $(field "$lat" p99_ms) ms | RSS $((after / 1024)) MB | in-process $(field "$ip" per_s)/s |"
