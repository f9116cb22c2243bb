# bench/lib.sh - what bench/policy.sh and bench/scale.sh share; sourced from the repository root.

# bench_need TOOL...: stop (69) when one is missing.
bench_need() {
  for tool; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (bash scripts/deps.sh bench)" >&2; exit 69; }
  done
}

# STSD_BIN, or a release build of its own (build-bench/), so that the figures are not those of
# a debug/ASan build.
bench_stsd() {
  if [ -z "${STSD_BIN:-}" ]; then
    if [ ! -d build-bench ]; then
      meson setup build-bench --buildtype=release -Dtests=false >/dev/null
    fi
    ninja -C build-bench -j2 cli/stsd >/dev/null
    STSD_BIN=build-bench/cli/stsd
  fi
}

# bench_dir DIR: make DIR and print its absolute path.
bench_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# Every process put in pids is killed on exit.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
