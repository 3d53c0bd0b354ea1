#!/usr/bin/env bash
# The test command: sets up a fresh machine, then runs every unit and end-to-end test
# (real loopback sockets, librdkafka's mock Kafka cluster, the real linerate binary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --locked --no-fail-fast "$@"
