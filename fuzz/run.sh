#!/bin/sh
# Run one libFuzzer target for a bounded time over its seed corpora and the corpus kept by
# bench/fuzz.sh in fuzz/corpus/<target>/ if there is one (all read-only: new inputs go to a
# temporary directory). usage: run.sh TARGET SECONDS CORPUS_DIR...
set -e
bin=$1; secs=$2; shift 2
kept=$(dirname "$0")/corpus/$(basename "$bin")
[ -d "$kept" ] && set -- "$kept" "$@"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# libFuzzer's own exit code for a crash, 77, is "skipped" to meson: make every finding a failure.
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 "$tmp" "$@"
