#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages lgsp needs to build, test, run the
# demo and the benchmarks. Idempotent: does nothing when all are present.
# Used by test.sh and demo.sh; needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential meson ninja-build pkg-config
  # libraries of the product
  libzmq3-dev libsodium-dev liblmdb-dev lmdb-utils libjansson-dev libyaml-dev
  libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libxml2-dev libutf8proc-dev libpcre2-dev
  # adapters: SQL sources through unixODBC, PostgreSQL's ODBC driver; TLS client certificates
  unixodbc-dev unixodbc odbc-postgresql libgnutls28-dev
  # tests: unit tests, the Python protocol client, sanitizer runtimes
  libcmocka-dev python3 python3-zmq python3-yaml python3-jsonschema
  # benchmark peer: NATS JetStream
  nats-server libnats-dev
  # tools the tests and demo use
  curl procps psmisc postgresql postgresql-client libxml2-utils
  # NDXP simulator tests: Ed25519 signatures and certificate checks in Python
  python3-cryptography
  # the review page's browser test (tests/review): Debian's Chromium, driven by playwright-core
  # from npm with the machine's Node.js (nodejs brings npm)
  chromium nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps.sh: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
