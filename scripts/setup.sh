#!/usr/bin/env bash
# Installs what a fresh Debian machine with the Rust toolchain lacks to build linerate:
# a C/C++ toolchain, make and perl for the bundled librdkafka and zstd; and to test it:
# promtool (Debian package prometheus), which checks /metrics in tests/e2e_api.rs; PostgreSQL 15
# (server and client), which scripts/postgres.sh runs for tests/e2e_store.rs and bench/store.sh.
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
