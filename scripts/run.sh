#!/usr/bin/env bash
# Build (release) and run the appliance. With no arguments: one shard per core, syslog on
# 0.0.0.0:5514 (UDP and TCP), metrics on 127.0.0.1:9514, embedded (mock) Kafka.
# Pass a config: scripts/run.sh --config shards/dev.toml
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --locked --release --bin linerate
exec target/release/linerate run "$@"
