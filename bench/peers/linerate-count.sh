#!/usr/bin/env bash
# The run.sh counter hook for linerate: messages Kafka acknowledged on the normalized topic
# (the sum over shards of linerate_events_delivered_total{topic="logs.normalized"}).
port=${LINERATE_BENCH_HTTP_PORT:-9599}
curl -s --max-time 1 "127.0.0.1:$port/metrics" \
  | awk '/^linerate_events_delivered_total\{/ && /topic="logs.normalized"/ {s += $2} END {printf "%d\n", s}'
