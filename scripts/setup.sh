#!/usr/bin/env bash
# Installs what a fresh Debian machine with the Rust toolchain lacks to build linerate:
# a C/C++ toolchain, make and perl for the bundled librdkafka and zstd, and OpenSSL's headers
# (libssl-dev) for librdkafka's TLS and SASL; and to test it: promtool (Debian package
# prometheus), which checks /metrics in tests/e2e_api.rs, and the TLS clients and servers of
# tests/e2e_tls.rs and tests/e2e_kafka_tls.rs: the openssl command and syslog-ng
# (syslog-ng-core; the tests run their own instance with a private config, not the service).
# Idempotent: installs nothing when everything is already there.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v syslog-ng >/dev/null 2>&1 || missing+=(syslog-ng-core)
# pkg-config may itself be missing on a fresh machine (installed above in the same run).
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install the Rust toolchain (rustup)" >&2; exit 1; }
