#!/usr/bin/env bash
# Installs the Debian packages the project needs to build, test and run the
# demo. A fast no-op when they are all present (checked with dpkg-query).
# Needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
  # build
  gcc make pkg-config clang clang-format clang-tidy cppcheck
  # libraries (see the README's dependency table)
  libev-dev libpq-dev libhiredis-dev libcsv-dev libwebsockets-dev libcurl4-openssl-dev zlib1g-dev
  libjansson-dev libcmocka-dev libsodium-dev libjwt-dev
  # servers the tests and the demo start privately
  postgresql redis-server
  # test and benchmark tools
  curl tzdata valgrind wrk procps iproute2 nodejs chromium espeak-ng openssl gnuplot-nox jq redis-tools
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# npm comes with the machine's Node.js build; Debian's own npm package
# conflicts with it, so it is only installed when no npm is present.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
# python3 runs generators and some test scripts; any python3 on the PATH will do.
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The server packages must not leave system-wide instances running: the
# project starts its own on loopback under run/.
if command -v service >/dev/null 2>&1; then
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
