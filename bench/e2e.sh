#!/usr/bin/env bash
# End-to-end throughput benchmark, one run, two measurements per transport:
#   (a) baseline: raw_drain (reads the socket and counts, nothing else), and
#   (b) linerate: through its durable ring, parse + ECS JSON + produce to logs.raw and
#       logs.normalized on the embedded Kafka mock cluster (which runs inside linerate's
#       process and is counted in its CPU), counted when Kafka acknowledged,
# both fed by the same `linerate loadgen` with 256-byte RFC 5424 messages.
# Prints a markdown table and writes it to bench/results/e2e-latest.md.
# Usage: bash bench/e2e.sh [TCP_COUNT] [UDP_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
TCP_N=${1:-2000000}
UDP_N=${2:-1000000}
SIZE=256
PORT_DRAIN=5600
PORT_LR=5700
HTTP_PORT=9600
TICK=$(getconf CLK_TCK)
tmp=$(mktemp -d)
# The rings live on the repository's disk (not a tmpfs /tmp), as they would in production.
data=$(pwd)/target/bench-e2e-data
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp" "$data"; }
trap cleanup EXIT

bash scripts/setup.sh
cargo build --locked --release --bin linerate --example raw_drain 2>&1 | tail -1
LR=target/release/linerate
DRAIN=target/release/examples/raw_drain

now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric_sum() { # name label-substring
  curl -s "127.0.0.1:$HTTP_PORT/metrics" | grep "^$1{" | grep -F "$2" | awk '{s += $2} END {printf "%d", s}'
}
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

drain_run() { # transport count
  local transport=$1 n=$2 out
  "$DRAIN" --listen "127.0.0.1:$PORT_DRAIN" --expect "$n" > "$tmp/drain.json" 2>/dev/null &
  local pid=$!; pids+=("$pid"); sleep 0.5
  if [ "$transport" = tcp ]; then
    "$LR" loadgen --target "127.0.0.1:$PORT_DRAIN" --transport tcp --connections 4 --size $SIZE --count "$n" --json > "$tmp/lg.json"
  else
    "$LR" loadgen --target "127.0.0.1:$PORT_DRAIN" --transport udp --connections 2 --size $SIZE --count "$n" --json > "$tmp/lg.json"
    sleep 1; kill -TERM "$pid" 2>/dev/null || true
  fi
  wait "$pid" || true
  out=$(cat "$tmp/drain.json")
  local msgs secs cpu
  msgs=$(json "$out" messages); secs=$(json "$out" first_to_last_secs); cpu=$(json "$out" cpu_secs)
  python3 -c "import sys; m,s,c,n=map(float,sys.argv[1:]); print(f'{m/s:.0f} {c/m*1e6:.2f} {n-m:.0f}')" "$msgs" "$secs" "$cpu" "$n"
}

linerate_run() { # transport count
  local transport=$1 n=$2
  cat > "$tmp/lr.toml" <<TOML
[shards]
count = 2
[syslog]
udp_listen = "127.0.0.1:$PORT_LR"
tcp_listen = "127.0.0.1:$PORT_LR"
[kafka]
brokers = "embedded"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[stats]
interval_ms = 100
[buffer]
data_dir = "$data"
TOML
  rm -rf "$data"
  LINERATE_LOG=error "$LR" run --config "$tmp/lr.toml" > /dev/null 2>&1 &
  local pid=$!; pids+=("$pid")
  for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP_PORT/health" > /dev/null && break; sleep 0.1; done
  local c0 t0 c1 t1 delivered=0 last=-1 stable=0
  c0=$(cpu_ticks "$pid"); t0=$(now)
  if [ "$transport" = tcp ]; then
    "$LR" loadgen --target "127.0.0.1:$PORT_LR" --transport tcp --connections 4 --size $SIZE --count "$n" --json > "$tmp/lg.json"
  else
    "$LR" loadgen --target "127.0.0.1:$PORT_LR" --transport udp --connections 2 --size $SIZE --count "$n" --json > "$tmp/lg.json"
  fi
  # Wait until every sent message is delivered to logs.normalized, or delivery stops moving.
  while [ "$delivered" -lt "$n" ] && [ "$stable" -lt 20 ]; do
    sleep 0.1
    delivered=$(metric_sum linerate_events_delivered_total 'topic="logs.normalized"')
    if [ "$delivered" = "$last" ]; then stable=$((stable + 1)); else stable=0; t1=$(now); c1=$(cpu_ticks "$pid"); fi
    last=$delivered
  done
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "import sys; d,n,t0,t1,c0,c1,tick=map(float,sys.argv[1:]); print(f'{d/(t1-t0):.0f} {(c1-c0)/tick/d*1e6:.2f} {n-d:.0f}')" \
    "$delivered" "$n" "$t0" "$t1" "$c0" "$c1" "$TICK"
}

echo "== TCP: $TCP_N x ${SIZE} B over 4 connections"
read -r d_tcp_rate d_tcp_cpu d_tcp_loss < <(drain_run tcp "$TCP_N")
read -r l_tcp_rate l_tcp_cpu l_tcp_loss < <(linerate_run tcp "$TCP_N")
echo "== UDP: $UDP_N x ${SIZE} B from 2 senders, as fast as they go"
read -r d_udp_rate d_udp_cpu d_udp_loss < <(drain_run udp "$UDP_N")
read -r l_udp_rate l_udp_cpu l_udp_loss < <(linerate_run udp "$UDP_N")

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2])*100:.0f}%')" "$1" "$2"; }
mkdir -p bench/results
{
  echo "| transport | receiver | messages/s | CPU s per 1M messages | lost | linerate / baseline |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  echo "| TCP | raw drain (baseline) | $d_tcp_rate | $d_tcp_cpu | $d_tcp_loss | |"
  echo "| TCP | linerate → embedded Kafka | $l_tcp_rate | $l_tcp_cpu | $l_tcp_loss | $(ratio "$l_tcp_rate" "$d_tcp_rate") |"
  echo "| UDP | raw drain (baseline) | $d_udp_rate | $d_udp_cpu | $d_udp_loss | |"
  echo "| UDP | linerate → embedded Kafka | $l_udp_rate | $l_udp_cpu | $l_udp_loss | $(ratio "$l_udp_rate" "$d_udp_rate") |"
  echo
  echo "$(nproc) cores, $(date -u +%Y-%m-%d), \`bash bench/e2e.sh $TCP_N $UDP_N\`; linerate: 2 shards, raw + normalized topics, zstd, idempotent, acks=all."
} | tee bench/results/e2e-latest.md
