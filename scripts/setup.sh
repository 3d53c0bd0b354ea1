#!/usr/bin/env bash
# Installs what a fresh Debian machine with the Rust toolchain lacks to build linerate:
# a C/C++ toolchain, make and perl for the bundled librdkafka and zstd, and OpenSSL's headers
# (libssl-dev) for librdkafka's TLS and SASL; and to test it: promtool (Debian package
# prometheus), which checks /metrics in tests/e2e_api.rs and the alerting rules in
# tests/deploy_prometheus.rs; the TLS clients and servers of tests/e2e_tls.rs and
# tests/e2e_kafka_tls.rs: the openssl command and syslog-ng (syslog-ng-core; the tests run their
# own instance with a private config, not the service); tmux, which runs `linerate top` in
# tests/e2e_top.rs; systemd-analyze (systemd), which verifies the unit, and dpkg-deb (dpkg),
# which builds and lists the package, in tests/package_deb.rs; the real syslog senders
# tests/e2e_senders.rs runs: util-linux `logger` (bsdutils) and python3; PostgreSQL 15 (server
# and client), which scripts/postgres.sh runs for tests/e2e_store.rs and bench/store.sh.
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
command -v logger >/dev/null 2>&1 || missing+=(bsdutils)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v syslog-ng >/dev/null 2>&1 || missing+=(syslog-ng-core)
# librdkafka's TLS (rdkafka feature "ssl") links the system's OpenSSL (checked by its header:
# pkg-config may itself be missing on a fresh machine, installed in this same run).
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install the Rust toolchain (rustup)" >&2; exit 1; }
