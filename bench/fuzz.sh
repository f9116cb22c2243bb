#!/usr/bin/env bash
# Long libFuzzer runs: build every fuzz target with clang under ASan+UBSan (build-fuzz/), run
# each for FUZZ_SECONDS (default 600) one after another with its corpus kept in
# fuzz/corpus/<target>/, minimise that corpus with -merge=1, and print one line of figures per
# target. Crash artifacts go to bench/out/fuzz/<target>/. Exit status is non-zero if any target
# crashed (or failed to build or run). Not part of the test command.
#
#   bench/fuzz.sh                              # every target in fuzz/meson.build, 600 s each
#   FUZZ_SECONDS=30 bench/fuzz.sh fuzz_txt     # named targets only
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${FUZZ_SECONDS:-600}
build=${FUZZ_BUILD:-build-fuzz}
out=$root/bench/out/fuzz
mkdir -p "$out"

if [ ! -d "$build" ]; then
    CC=clang meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dfuzz=true -Dintegration=false --buildtype=debugoptimized >"$out/setup.log" 2>&1 ||
        { cat "$out/setup.log"; exit 1; }
fi
# The target list, each one's seed corpora and its sanitizer options come from the build's own
# test definitions (suite "fuzz" in fuzz/meson.build): one line per target,
#   NAME<TAB>EXE<TAB>ENV (space separated k=v)<TAB>SEED_DIR...
ninja -C "$build" build.ninja >"$out/ninja.log" 2>&1 || { cat "$out/ninja.log"; exit 1; } # new targets
meson introspect "$build" --tests >"$out/tests.json" || exit 1
mapfile -t defs < <(python3 - "$out/tests.json" "$@" <<'PY'
import json, sys
tests = [t for t in json.load(open(sys.argv[1]))
         if any(s.split(":")[-1] == "fuzz" for s in t["suite"])]
want = sys.argv[2:]
names = {t["name"] for t in tests}
for w in want:
    if w not in names:
        sys.exit("no fuzz target " + w + " (have: " + " ".join(sorted(names)) + ")")
for t in tests:
    if want and t["name"] not in want:
        continue
    # cmd: run.sh EXE (relative to the build directory) SECONDS SEED_DIR...
    env = " ".join(k + "=" + v for k, v in sorted(t["env"].items()) if k.endswith("_OPTIONS"))
    print("\t".join([t["name"], t["cmd"][1], env] + t["cmd"][3:]))
PY
) || exit 1
[ ${#defs[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }

exes=()
for d in "${defs[@]}"; do
    IFS=$'\t' read -r -a f <<<"$d"
    exes+=("${f[1]}")
done
ninja -C "$build" "${exes[@]}" >"$out/ninja.log" 2>&1 || { cat "$out/ninja.log"; exit 1; }
if grep -q "warning:" "$out/ninja.log"; then
    grep "warning:" "$out/ninja.log"
    exit 1
fi

status=0
summary=$out/summary.tsv
[ -f "$summary" ] ||
    printf 'date\ttarget\tseconds\texecs\texec_s\tcov\tft\tcorpus_files\tcorpus_kb\tcrashes\n' \
        >"$summary"
for d in "${defs[@]}"; do
    IFS=$'\t' read -r -a f <<<"$d"
    name=${f[0]} exe=$root/$build/${f[1]} envs=${f[2]}
    seeds=("${f[@]:3}")
    corpus=$root/fuzz/corpus/$name
    art=$out/$name
    log=$out/$name.log
    rm -rf "$art"
    mkdir -p "$corpus" "$art"
    read -r -a envv <<<"$envs"
    start=$(date +%s)
    # New inputs land in the first directory (the kept corpus); the seeds are read only.
    env "${envv[@]}" nice -n 19 "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" "$corpus" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    # Minimise: merge the kept corpus and the seeds into a fresh directory, drop the files that
    # are copies of a seed (merge names files by their SHA-1), and replace the kept corpus.
    fresh=$root/fuzz/corpus/.$name.new
    rm -rf "$fresh"
    mkdir -p "$fresh"
    if env "${envv[@]}" nice -n 19 "$exe" -merge=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$art/" "$fresh" "$corpus" "${seeds[@]}" >"$log.merge" 2>&1; then
        find "${seeds[@]}" -type f -exec sha1sum {} + 2>/dev/null | while read -r sum _; do
            rm -f "$fresh/$sum"
        done
        rm -rf "$corpus"
        mv "$fresh" "$corpus"
    else
        echo "$name: merge failed, corpus left unminimised (see $log.merge)" >&2
        rm -rf "$fresh"
        status=1
    fi
    stats=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n 1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$stats")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$stats")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    files=$(find "$corpus" -type f | wc -l)
    kb=$(du -sk --apparent-size "$corpus" | cut -f1)
    crashes=$(find "$art" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # died without an artifact: count it, the log says why
    fi
    [ "$crashes" -eq 0 ] || status=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$elapsed" "${execs:-?}" "${eps:-?}" \
        "${cov:-?}" "${ft:-?}" "$files" "$kb" "$crashes" >>"$summary"
    printf '%-18s %5ss execs=%s exec/s=%s cov=%s ft=%s corpus=%s files (%s KB) crashes=%s\n' \
        "$name" "$elapsed" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$files" "$kb" \
        "$crashes"
    [ "$crashes" -eq 0 ] || echo "  artifacts in $art, log $log"
done
echo "corpus total: $(du -sh --apparent-size fuzz/corpus | cut -f1) in fuzz/corpus/; figures in $summary"
exit $status
