#!/usr/bin/env bash
# bench/check.sh - does `stsd check` probe MX hosts in parallel? Times a domain with
# five MX hosts whose SMTP banners each take 300 ms against a domain with one such MX, on the
# checker's test bed (tests/integration/checker/bed.py: unbound + SMTP servers on 127.0.0.x).
# Prints the median wall times, their ratio (target < 1.5; 5.0 would be sequential) and a line
# to paste into bench/RESULTS.md.
#
#   bench/check.sh [N]        N runs per domain (default 9)
#   STSD_BIN=path/to/stsd     the binary (default: build-release, else build/cli/stsd)
#   BED_ARGS=--python-policy  serve the good policies from python instead of stsd serve
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-9}
stsd=${STSD_BIN:-}
if [ -z "$stsd" ]; then
  for c in build-release/cli/stsd build/cli/stsd; do [ -x "$c" ] && { stsd=$PWD/$c; break; }; done
fi
[ -x "${stsd:-}" ] || { echo "bench/check.sh: no stsd binary (set STSD_BIN)" >&2; exit 1; }
export STSD_BIN=$stsd

work=$(mktemp -d /tmp/stsd-bench-check.XXXXXX)
bed_pid=""
cleanup() {
  [ -n "$bed_pid" ] && kill "$bed_pid" 2>/dev/null && wait "$bed_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

python3 tests/integration/checker/bed.py --serve ${BED_ARGS:-} >"$work/bed.json" 2>"$work/bed.err" &
bed_pid=$!
for _ in $(seq 600); do
  [ -s "$work/bed.json" ] && break
  kill -0 "$bed_pid" 2>/dev/null || { cat "$work/bed.err" >&2; exit 1; }
  sleep 0.1
done
read -r resolver smtp https ca < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["resolver"], d["smtp_port"], d["https_port"], d["ca_file"])' "$work/bed.json")

run() { # domain -> wall milliseconds of one check
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$stsd" check --json --resolver "$resolver" --ca-file "$ca" --smtp-port "$smtp" \
    --https-port "$https" --timeout 5 "$1" >"$work/out.json" 2>"$work/err" || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" -ne 0 ]; then
    echo "bench/check.sh: stsd check $1 exited $rc (expected 0):" >&2
    head -c 2000 "$work/out.json" "$work/err" >&2; exit 1
  fi
  echo $(((t1 - t0) / 1000000))
}

run par1.test >/dev/null; run par5.test >/dev/null   # warm-up
: >"$work/par1"; : >"$work/par5"
for _ in $(seq "$n"); do
  run par1.test >>"$work/par1"
  run par5.test >>"$work/par5"
done
python3 - "$work/par1" "$work/par5" "$n" "$stsd" <<'PY'
import statistics, sys, time, subprocess
one = [int(x) for x in open(sys.argv[1])]
five = [int(x) for x in open(sys.argv[2])]
m1, m5 = statistics.median(one), statistics.median(five)
ratio = m5 / m1
print("1 MX  (300 ms banner): median %d ms  runs %s" % (m1, one))
print("5 MX  (300 ms banner each): median %d ms  runs %s" % (m5, five))
print("ratio 5 MX / 1 MX: %.2f (target < 1.5; sequential would be ~%.1f)" %
      (ratio, (5 * 300 + (m1 - 300)) / m1))
print()
print("| %s | stsd check parallelism (bench/check.sh, N=%s) | 1 MX %d ms, 5 MX %d ms "
      "(300 ms banners) | ratio %.2f %s |" %
      (time.strftime("%Y-%m-%d"), sys.argv[3], m1, m5, ratio,
       "(< 1.5 ok)" if ratio < 1.5 else "(>= 1.5: NOT parallel enough)"))
sys.exit(0 if ratio < 1.5 else 1)
PY
