#!/usr/bin/env bash
# Install the Debian 12 packages stsd needs to build and to run its tests (idempotent).
# Only packages that are missing are installed; needs root (or sudo) and Debian's mirror.
set -euo pipefail
build_pkgs="meson ninja-build pkg-config gcc libc6-dev python3 openssl
  libh2o-evloop-dev libssl-dev libjansson-dev zlib1g-dev libsqlite3-dev
  libcurl4-openssl-dev libunbound-dev libevent-dev libinih-dev libgmime-3.0-dev
  libopendkim-dev"
test_pkgs="libcmocka-dev clang libclang-rt-14-dev curl unbound postfix-mta-sts-resolver
  nghttp2-client iproute2 sqlite3 ca-certificates procps psmisc python3-h2 testssl.sh pebble nginx-light
  postfix python3-dkim dovecot-imapd"
bench_pkgs="wrk time bc"
browser_pkgs="chromium chromium-driver"
want="$build_pkgs"
case "${1:-build}" in
  build) ;;
  test) want="$build_pkgs $test_pkgs $browser_pkgs" ;;
  bench) want="$build_pkgs $test_pkgs $bench_pkgs" ;;
  all) want="$build_pkgs $test_pkgs $bench_pkgs $browser_pkgs" ;;
  *) echo "usage: $0 [build|test|bench|all]" >&2; exit 64 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  # Debian starts services from postinst (nginx, unbound); the tests start their own.
  # policy-rc.d keeps the packaged daemons from starting and taking ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
