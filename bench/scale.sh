#!/usr/bin/env bash
# bench/scale.sh - `stsd serve` with many hosted domains, each with its own certificate and
# its own ECDSA P-256 key (N=10000 by default):
#   - start-up time: from exec to the first 200 for the last domain (fresh database, then a
#     restart with the database in place), and the reload time after SIGHUP;
#   - memory: VmRSS of the process after start-up and after the load runs;
#   - throughput: HTTP/2 GETs and new TLS connections against one of the N domains,
#     interleaved with the same runs against a server hosting 3 domains (ratio N/3).
#
#   bench/scale.sh                       # N=10000 ROUNDS=3 DURATION=10
#   N=10000 ROUNDS=1 DURATION=2 bench/scale.sh   # a quick sanity run
#   GEN_ONLY=1 bench/scale.sh            # only generate the cached keys and certificates
#
# Keys and certificates are made by a small C program (OpenSSL, compiled here) and cached
# in bench/out/scale-N/ (gitignored): generating 10,000 keys with the openssl CLI would take
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNS=${CONNS:-50}
TLS_REQUESTS=${TLS_REQUESTS:-$((DURATION * 2000))}

. bench/lib.sh
bench_need h2load curl cc
bench_stsd
STSD_BIN=$(realpath "$STSD_BIN")

CACHE=$(bench_dir bench/out/scale-$N)
OUT=$(bench_dir bench/out/scale-run-$(date -u +%Y%m%dT%H%M%S))

# ---- certificates and policies (cached) ----
if [ ! -f "$CACHE/done" ]; then
  cat >"$OUT/gencerts.c" <<'EOF'
/* gencerts.c - a CA and N leaf certificates (each with its own P-256 key) for bench/scale.sh */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static X509 *make(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long serial,
                  const char *san, int ca)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, NID_basic_constraints,
                                            ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (san) {
        e = X509V3_EXT_conf_nid(NULL, &c, NID_subject_alt_name, san);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, ikey ? ikey : key, EVP_sha256());
    return x;
}

int main(int argc, char **argv)
{
    const char *dir = argv[1];
    long n = atol(argv[2]);
    char path[4096], name[256], san[300];
    EVP_PKEY *cakey = EVP_EC_gen("P-256");
    X509 *ca = make(cakey, "stsd scale bench CA", NULL, NULL, 1, NULL, 1);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, ca);
    fclose(f);
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "mta-sts.d%ld.scale.test", i);
        snprintf(san, sizeof(san), "DNS:%s", name);
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *x = make(k, name, ca, cakey, i + 2, san, 0);
        snprintf(path, sizeof(path), "%s/certs/%s.pem", dir, name);
        f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            return 1;
        }
        PEM_write_X509(f, x);
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
        fclose(f);
        chmod(path, 0600);
        snprintf(path, sizeof(path), "%s/policies/d%ld.scale.test.txt", dir, i);
        f = fopen(path, "w");
        fprintf(f, "version: STSv1\nmode: enforce\nmx: mx%ld.scale.test\nmax_age: 604800\n", i);
        fclose(f);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    return 0;
}
EOF
  cc -O2 -o "$OUT/gencerts" "$OUT/gencerts.c" -lcrypto
  rm -rf "$CACHE/certs" "$CACHE/policies"
  mkdir -p "$CACHE/certs" "$CACHE/policies"
  t0=$(date +%s.%N)
  "$OUT/gencerts" "$CACHE" "$N"
  echo "generated $N keys and certificates in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
  touch "$CACHE/done"
fi
# GEN_ONLY=1: only make the cached certificates and policies (bench/dashboard.sh uses them)
[ "${GEN_ONLY:-0}" = 1 ] && exit 0

now() { date +%s.%N; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# state dir for n domains: symlinks to the cached files (the first n of them)
make_state() { # dir n
  mkdir -p "$1/policies" "$1/certs"
  if [ "$2" = "$N" ]; then
    cp -a "$CACHE/policies/." "$1/policies/"
    cp -a "$CACHE/certs/." "$1/certs/"
  else
    for i in $(seq 0 $(($2 - 1))); do
      cp -a "$CACHE/policies/d$i.scale.test.txt" "$1/policies/"
      cp -a "$CACHE/certs/mta-sts.d$i.scale.test.pem" "$1/certs/"
    done
  fi
}

start_stsd() { # name n -> sets PORT_<name>, PID_<name>, START_SECS (exec to first 200)
  local name=$1 n=$2 port
  port=$(free_port)
  cat >"$OUT/$name.conf" <<EOF
[server]
listen = 127.0.0.1:$port
state_dir = $OUT/$name
threads = $THREADS
max_conn_per_address = 100000
[admin]
listen = off
[checks]
interval = off
EOF
  local last=$((n - 1)) t0 pid
  t0=$(now)
  "$STSD_BIN" serve -c "$OUT/$name.conf" 2>>"$OUT/$name.log" &
  pid=$!
  pids+=($pid)
  for _ in $(seq 3000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CACHE/ca.crt" \
        --resolve "mta-sts.d$last.scale.test:$port:127.0.0.1" \
        "https://mta-sts.d$last.scale.test:$port/.well-known/mta-sts.txt" 2>/dev/null)" = 200 ]; then
      eval "PORT_$name=$port PID_$name=$pid"
      START_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}')
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "bench: stsd ($name) did not serve mta-sts.d$last.scale.test" >&2
  cat "$OUT/$name.log" >&2
  exit 70
}
stop_stsd() { kill "$1"; wait "$1" 2>/dev/null || true; }

make_state "$OUT/big" "$N"
make_state "$OUT/small" 3

echo "stsd $("$STSD_BIN" --version 2>/dev/null || true); N=$N rounds=$ROUNDS duration=${DURATION}s threads=$THREADS nproc=$(nproc)"
start_stsd big "$N"; cold=$START_SECS
stop_stsd "$PID_big"
start_stsd big "$N"; warm=$START_SECS
rss_start=$(rss_kb "$PID_big")
n_reload=$(grep -c 'event=policy.reload ' "$OUT/big.log")
kill -HUP "$PID_big"
for _ in $(seq 600); do
  [ "$(grep -c 'event=policy.reload ' "$OUT/big.log")" -gt "$n_reload" ] && break
  sleep 0.05
done
reload_ms=$(grep 'why=sighup' "$OUT/big.log" | tail -1 | sed 's/.* ms=//')
start_stsd small 3; small_start=$START_SECS
{
  echo "start-up to first 200, $N domains: ${cold} s (new database), ${warm} s (restart)"
  echo "start-up to first 200, 3 domains: ${small_start} s"
  echo "reload (SIGHUP, nothing changed), $N domains: ${reload_ms} ms"
  echo "VmRSS after start-up, $N domains: $((rss_start / 1024)) MB; 3 domains: $(($(rss_kb "$PID_small") / 1024)) MB"
} | tee "$OUT/summary.txt"

h2() { # port domain
  h2load -c"$CONNS" -m10 -t"$THREADS" -D"$DURATION" --connect-to="127.0.0.1:$1" \
    "https://$2:$1/.well-known/mta-sts.txt" >"$OUT/run.txt" 2>&1
  grep -q 'succeeded, 0 failed, 0 errored' "$OUT/run.txt" || { echo "bench: h2load failures" >&2; grep '^requests:' "$OUT/run.txt" >&2; }
  awk '/^finished in/ {for (i=1;i<=NF;i++) if ($(i+1)=="req/s,") print $i}' "$OUT/run.txt"
}
tls() {
  timeout $((DURATION * 20 + 60)) h2load --h1 -H 'Connection: close' -c"$CONNS" -t"$THREADS" \
    -n"$TLS_REQUESTS" --connect-to="127.0.0.1:$1" "https://$2:$1/.well-known/mta-sts.txt" \
    >"$OUT/run.txt" 2>&1 || true
  grep -q 'succeeded, 0 failed, 0 errored' "$OUT/run.txt" || { echo "bench: h2load failures" >&2; grep '^requests:' "$OUT/run.txt" >&2; }
  awk '/^finished in/ {for (i=1;i<=NF;i++) if ($(i+1)=="req/s,") print $i}' "$OUT/run.txt"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
mid=$((N / 2))
for kind in h2 tls; do
  : >"$OUT/$kind.big"; : >"$OUT/$kind.small"
  for r in $(seq "$ROUNDS"); do
    a=$($kind "$PORT_small" mta-sts.d1.scale.test); echo "$a" >>"$OUT/$kind.small"
    b=$($kind "$PORT_big" "mta-sts.d$mid.scale.test"); echo "$b" >>"$OUT/$kind.big"
    echo "  $kind round $r: 3 domains $a  $N domains $b"
  done
  s=$(median <"$OUT/$kind.small"); b=$(median <"$OUT/$kind.big")
  printf '%-4s %d domains %12s/s   3 domains %12s/s   ratio %s\n' "$kind" "$N" "$b" "$s" \
    "$(awk -v b="$b" -v s="$s" 'BEGIN { if (s > 0) printf "%.3f", b / s; else print "n/a" }')" \
    | tee -a "$OUT/summary.txt"
done
echo "VmRSS after the load runs, $N domains: $(($(rss_kb "$PID_big") / 1024)) MB" | tee -a "$OUT/summary.txt"
echo "details: $OUT"
