#!/usr/bin/env bash
# Install what is missing, build with AddressSanitizer + UndefinedBehaviorSanitizer, build the
# libFuzzer targets with clang, and run the whole suite (unit, integration, fuzz smoke runs).
# Ends with one line "N passed, N failed". Exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test || { echo "0 passed, 1 failed"; exit 1; }
status=0
# One clang build: ASan + UBSan for everything, and the libFuzzer targets, whose short
# runs over the seed corpora are part of the suite.
if [ ! -d build-asan ]; then
  CC=clang meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz=true --buildtype=debugoptimized >/dev/null || status=1
fi
ninja -C build-asan >build-asan/ninja.log 2>&1 || { cat build-asan/ninja.log; status=1; }
if grep -q "warning:" build-asan/ninja.log; then
  echo "compiler warnings:"; grep "warning:" build-asan/ninja.log; status=1
fi
meson test -C build-asan --print-errorlogs --num-processes 2 "$@"
rc=$?
[ $rc -eq 0 ] || status=1
# The hostile-client suite runs against a release build: its bounds (peak memory, latency of
# policy fetches under attack, CPU at a connection cap) are about the program as operators run
# it, not as the sanitizers slow and inflate it.
if [ ! -d build-hostile ]; then
  meson setup build-hostile --buildtype=release -Dhostile=true -Dintegration=false \
    >/dev/null || status=1
fi
ninja -C build-hostile >build-hostile/ninja.log 2>&1 || { cat build-hostile/ninja.log; status=1; }
if grep -q "warning:" build-hostile/ninja.log; then
  echo "compiler warnings (release):"; grep "warning:" build-hostile/ninja.log; status=1
fi
rm -f build-hostile/meson-logs/testlog.json
meson test -C build-hostile --suite hostile --print-errorlogs --num-processes 1
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 125 ] || status=1
# Count from meson's JSON log: every TAP test point of every test ("ok N" / "not ok N"), and
# one for each test that prints no TAP (the fuzz runs). A test that failed without a failing
# TAP point (a crash after its last point, a timeout) counts as one more failure.
read -r passed failed < <(python3 - build-asan/meson-logs/testlog.json \
    build-hostile/meson-logs/testlog.json <<'PY'
import json, re, sys
p = f = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).readlines()
    except OSError:
        f += 1
        continue
    for line in lines:
        t = json.loads(line)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL")
        points = re.findall(r"^(ok|not ok)\b", t.get("stdout") or "", re.M)
        tp = points.count("ok")
        tf = len(points) - tp
        if not points:
            tp, tf = (1, 0) if ok else (0, 1)
        elif not ok and tf == 0:
            tf = 1
        p += tp
        f += tf
print(p, f)
PY
)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
