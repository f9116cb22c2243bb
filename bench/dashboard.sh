#!/usr/bin/env bash
# bench/dashboard.sh - the dashboard's front page with N hosted domains (N=10000 by default),
# each with its own certificate (bench/scale.sh's cached ones), REPORTS reports of the last
# 30 days (one in ten with failures) and one stored check per domain (a few stale DNS ids
# and failing checks), some certificates near expiry and some missing:
#   - the size of the front page, page 2, a search and a domain page;
#   - their latency (curl, sequential, REQUESTS each after WARM warm-up requests): median
#     and p99 over REQUESTS requests, with the bearer token.
#
#   bench/dashboard.sh                        # N=10000 REQUESTS=200
#   N=2000 REQUESTS=50 bench/dashboard.sh     # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-10000}
REQUESTS=${REQUESTS:-200}
WARM=${WARM:-5}
REPORTS=${REPORTS:-2000}
bench_need curl python3 cc
bench_stsd
STSD_BIN=$(realpath "$STSD_BIN")
GEN_ONLY=1 N=$N STSD_BIN=$STSD_BIN bash bench/scale.sh
CACHE=$(cd "bench/out/scale-$N" && pwd)
OUT=$(bench_dir "bench/out/dashboard-run-$(date -u +%Y%m%dT%H%M%S)")

# ---- the state: policies and certificates; 20 certificates 5 days from expiry, 20 missing
mkdir -p "$OUT/state/policies" "$OUT/state/certs"
cp -a "$CACHE/policies/." "$OUT/state/policies/"
cp -a "$CACHE/certs/." "$OUT/state/certs/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 5 \
  -subj /CN=soon.scale.test -keyout "$OUT/soon.key" -out "$OUT/soon.crt" 2>/dev/null
for i in $(seq 0 500 9999); do
  [ "$i" -lt "$N" ] || continue
  cat "$OUT/soon.crt" "$OUT/soon.key" >"$OUT/state/certs/mta-sts.d$i.scale.test.pem"
  rm -f "$OUT/state/certs/mta-sts.d$((i + 1)).scale.test.pem"
done
APORT=$(free_port)
PORT=$(free_port)
cat >"$OUT/stsd.conf" <<EOF
[server]
listen = 127.0.0.1:$PORT
state_dir = $OUT/state
threads = 2
[admin]
listen = 127.0.0.1:$APORT
[checks]
interval = off
[reports]
keep = off
EOF

# ---- reports of the last 30 days, ingested before the start
python3 - "$OUT/reports" "$N" "$REPORTS" <<'EOF'
import json, os, sys, time
out, n, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
now = time.time()
for i in range(count):
    d = "d%d.scale.test" % ((i * 7919) % n)
    day = time.gmtime(now - (1 + i % 28) * 86400)
    failed = 3 if i % 10 == 0 else 0
    r = {"organization-name": "Bench Mail", "contact-info": "x@example.net",
         "report-id": "bench-%d" % i,
         "date-range": {"start-datetime": time.strftime("%Y-%m-%dT00:00:00Z", day),
                        "end-datetime": time.strftime("%Y-%m-%dT23:59:59Z", day)},
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": d,
                                  "policy-string": ["version: STSv1"], "mx-host": ["mx.x"]},
                       "summary": {"total-successful-session-count": 100,
                                   "total-failure-session-count": failed},
                       "failure-details": [{"result-type": "certificate-expired",
                                            "receiving-mx-hostname": "mx.%s" % d,
                                            "failed-session-count": failed}] if failed else []}]}
    with open(os.path.join(out, "r%05d.json" % i), "w") as f:
        json.dump(r, f)
EOF
t0=$(date +%s.%N)
find "$OUT/reports" -name '*.json' -print0 | xargs -0 -n 500 "$STSD_BIN" -c "$OUT/stsd.conf" \
  reports ingest >"$OUT/ingest.log" 2>&1
echo "ingested $REPORTS reports in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

"$STSD_BIN" serve -c "$OUT/stsd.conf" 2>"$OUT/stsd.log" &
pid=$!
pids+=("$pid")
for _ in $(seq 3000); do
  [ -s "$OUT/state/admin.token" ] && grep -q 'event=serve.ready' "$OUT/stsd.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$OUT/stsd.log" >&2; exit 70; }
  sleep 0.01
done
TOKEN=$(cat "$OUT/state/admin.token")

# ---- one stored check per domain (the served ids are recorded at start): 1 % stale DNS
# ids, 2 % failing
python3 - "$OUT/state/stsd.db" <<'EOF'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
ids = dict(db.execute("SELECT domain, id FROM policy_versions"))
now = int(time.time())
for k, (d, pid) in enumerate(sorted(ids.items())):
    stale, bad = k % 100 == 1, k % 50 == 3
    res = {"version": 1, "domains": [{"domain": d, "verdict": "error" if bad else "ok",
                                      "findings": []}]}
    cur = db.execute("INSERT INTO checks (domain, started, duration_ms, status, errors, "
                     "warnings, infos, dns_id, result) VALUES (?, ?, 300, ?, ?, 0, 1, ?, ?)",
                     (d, now - 3600, 2 if bad else 0, 1 if bad else 0,
                      "20200101T000000" if stale else pid, json.dumps(res)))
    if bad:
        db.execute("INSERT INTO check_findings (check_id, finding, severity, subject, message) "
                   "VALUES (?, 'mx.cert.expired', 'error', ?, 'expired')", (cur.lastrowid, d))
db.commit()
print("stored %d checks" % len(ids))
EOF

get() { # path -> "bytes seconds status" per request
  curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" \
    -w '%{size_download} %{time_total} %{http_code}\n' "http://127.0.0.1:$APORT$1"
}
stats() { # file -> bytes median_ms p99_ms
  sort -k2 -g "$1" | awk '{b=$1; t[NR]=$2} END {
    m = (NR % 2) ? t[(NR+1)/2] : (t[NR/2]+t[NR/2+1])/2; p = t[int(NR*0.99 + 0.999)];
    printf "%d %.1f %.1f\n", b, m*1000, p*1000}'
}
echo "stsd $("$STSD_BIN" --version 2>/dev/null || true); N=$N reports=$REPORTS requests=$REQUESTS nproc=$(nproc)"
printf '%-28s %10s %10s %10s\n' page bytes median_ms p99_ms | tee "$OUT/summary.txt"
for page in "/" "/?page=2" "/?q=d4242" "/domains/d4242.scale.test"; do
  for _ in $(seq "$WARM"); do get "$page" >/dev/null; done
  : >"$OUT/times.txt"
  for _ in $(seq "$REQUESTS"); do get "$page" >>"$OUT/times.txt"; done
  bad=$(awk '$3 != 200' "$OUT/times.txt" | wc -l)
  [ "$bad" -eq 0 ] || echo "bench: $bad answers to $page were not 200" >&2
  read -r bytes med p99 < <(stats "$OUT/times.txt")
  printf '%-28s %10s %10s %10s\n' "$page" "$bytes" "$med" "$p99" | tee -a "$OUT/summary.txt"
done
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APORT/" >"$OUT/front.html"
grep -o 'data-k="[a-z-]*">[0-9]*' "$OUT/front.html" | tr '\n' ' ' | tee -a "$OUT/summary.txt"
echo
