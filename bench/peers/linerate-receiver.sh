#!/usr/bin/env bash
# The run.sh receiver hook for linerate: writes a config into the run's work directory and
# execs `linerate run` (so run.sh measures linerate's own PID and CPU).
# Usage: linerate-receiver.sh NAME WORKDIR PORT RCVBUF
#   NAME linerate        the default: logs.raw and logs.normalized (two Kafka records per event)
#   NAME linerate-noraw  `raw_enabled = false`: logs.normalized only (one record, as the peers)
# Every guarantee stays on: the durable ring, idempotence, acks=all, zstd, and a message
# counts only once Kafka acknowledged it (see linerate-count.sh). LINERATE_EXTRA_TOML is
# appended to the config (whole sections, e.g. "[shards]\npin_helpers = false").
set -euo pipefail
name=$1 work=$2 port=$3 rcvbuf=$4
: "${LINERATE_BIN:?LINERATE_BIN must name the linerate binary}"
http_port=${LINERATE_BENCH_HTTP_PORT:-9599}
raw=true
[ "$name" = linerate-noraw ] && raw=false
# Shards: the default layout, as a new user gets it (one shard per CPU but a quarter of them,
# at least one, left to librdkafka's threads: one shard on a 2-CPU box).
cat > "$work/linerate.toml" <<TOML
[syslog]
udp_listen = "127.0.0.1:$port"
tcp_listen = "127.0.0.1:$port"
recv_buffer_bytes = $rcvbuf
[kafka]
brokers = "embedded"
raw_enabled = $raw
[http]
listen = "127.0.0.1:$http_port"
[stats]
interval_ms = 50
[buffer]
data_dir = "$work/data"
${LINERATE_EXTRA_TOML:-}
TOML
export LINERATE_LOG=${LINERATE_LOG:-warn}
exec "$LINERATE_BIN" run --config "$work/linerate.toml"
