# Shared by scripts/scenario-*.sh (sourced, not run): start the appliance (release build,
# 2 shards, embedded Kafka, its data directory under the scenario's output), find the
# embedded broker, run loadgen with --verify and its latency log, stop, and report.
# Environment: OUT (output directory), PORT (syslog, default 5914), HTTP_PORT (default
# 9914), LR (the binary, default target/release/linerate), SKIP_BUILD=1, CONNECTIONS (loadgen TCP connections, default 4), SIZE (message bytes, 256).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LR=${LR:-target/release/linerate}
PORT=${PORT:-5914}
HTTP_PORT=${HTTP_PORT:-9914}
CONNECTIONS=${CONNECTIONS:-4}
SIZE=${SIZE:-256}
APP_PID=
BOOTSTRAP=

scenario_init() { # name
  OUT=${OUT:-target/scenarios/$1}
  rm -rf "$OUT"
  mkdir -p "$OUT"
  OUT=$(realpath "$OUT")
  trap 'scenario_stop' EXIT
  if [ "${SKIP_BUILD:-}" != 1 ]; then
    bash scripts/setup.sh
    cargo build --locked --release --bin linerate 2>&1 | tail -1
  fi
}

# Start the appliance on a fresh data directory $OUT/data; sets APP_PID and BOOTSTRAP.
scenario_start() {
  local data=$OUT/data
  rm -rf "$data"
  cat > "$OUT/linerate.toml" <<TOML
[shards]
count = 2
[syslog]
udp_listen = ""
tcp_listen = "127.0.0.1:$PORT"
[kafka]
brokers = "embedded"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[stats]
interval_ms = 1000
[buffer]
data_dir = "$data"
TOML
  LINERATE_LOG=warn NO_COLOR=1 "$LR" run --config "$OUT/linerate.toml" > "$OUT/appliance.out" 2> "$OUT/appliance.log" &
  APP_PID=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP_PORT/health" > /dev/null && break; sleep 0.1; done
  BOOTSTRAP=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/appliance.log" | grep -o 'bootstrap=[0-9.:]*' | head -1 | cut -d= -f2)
  [ -n "$BOOTSTRAP" ] || { echo "no embedded broker address in $OUT/appliance.log" >&2; exit 1; }
}

scenario_stop() {
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
    kill -TERM "$APP_PID"; wait "$APP_PID" || true
  fi
  APP_PID=
}

# Sum of a metric over shards (name, label substring).
metric_sum() {
  curl -s "127.0.0.1:$HTTP_PORT/metrics" | grep "^$1{" | grep -F "$2" | awk '{s += $2} END {printf "%d", s}'
}

# The sustained delivery rate: load as fast as TCP takes it for SECS seconds, events
# delivered to the normalized topic over the second half, per second. Prints the rate.
measure_max_rate() { # secs
  local secs=$1 d0 d1 t0 t1
  scenario_start
  "$LR" loadgen --target "127.0.0.1:$PORT" --connections "$CONNECTIONS" --size "$SIZE" --duration "$secs" --json > "$OUT/max-loadgen.json" &
  local lg=$!
  sleep "$(python3 -c "print($secs / 2)")"
  d0=$(metric_sum linerate_events_delivered_total 'topic="logs.normalized"'); t0=$(date +%s.%N)
  wait "$lg"
  d1=$(metric_sum linerate_events_delivered_total 'topic="logs.normalized"'); t1=$(date +%s.%N)
  scenario_stop
  python3 -c "import sys; d0,d1,t0,t1=map(float,sys.argv[1:]); print(int((d1-d0)/(t1-t0)))" "$d0" "$d1" "$t0" "$t1"
}

# loadgen at RATE for SECS seconds with --verify, its latency log in $OUT/LABEL; the JSON
# report in $OUT/LABEL.json. VERIFY=0: no consumer during the run (loadgen, the embedded
# broker and the appliance share this machine's cores; a consumer reading 200k+ messages/s
# takes a good part of one from the appliance it measures): check_delivered then compares
# what loadgen sent with what the appliance says Kafka acknowledged.
run_load() { # label rate secs
  local label=$1 rate=$2 secs=$3 verify=(--verify --brokers "$BOOTSTRAP" --verify-wait-secs 30)
  [ "${VERIFY:-1}" = 0 ] && verify=()
  "$LR" loadgen --target "127.0.0.1:$PORT" --connections "$CONNECTIONS" --size "$SIZE" \
    --rate "$rate" --duration "$secs" "${verify[@]}" \
    --hlog-dir "$OUT/$label" --json > "$OUT/$label.json"
}

# After run_load LABEL with VERIFY=0 (the appliance still running, nothing else sent): wait
# up to 30 s until every message loadgen sent is acknowledged on the normalized and raw
# topics, then print sent / received / acknowledged and fail if any is missing.
check_delivered() { # label
  local sent rcv norm raw
  sent=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sent'])" "$OUT/$1.json")
  for _ in $(seq 300); do
    norm=$(metric_sum linerate_events_delivered_total 'topic="logs.normalized"')
    [ "$norm" -ge "$sent" ] && break
    sleep 0.1
  done
  rcv=$(metric_sum linerate_events_received_total 'transport="tcp"')
  raw=$(metric_sum linerate_events_delivered_total 'topic="logs.raw"')
  echo "sent $sent; received $rcv; acknowledged by Kafka: logs.normalized $norm, logs.raw $raw" | tee -a "$OUT/rates.txt"
  [ "$rcv" -eq "$sent" ] && [ "$norm" -eq "$sent" ] && [ "$raw" -eq "$sent" ] || { echo "MISSING EVENTS" >&2; return 1; }
}

# Stop the appliance and write the report of its data directory and the loadgen logs,
# without the first SKIP_SECS seconds (default 0: everything).
scenario_report() { # loadgen labels...
  scenario_stop
  local inputs=("$OUT/data")
  for l in "$@"; do inputs+=("$OUT/$l"); done
  "$LR" report --title "${TITLE:-linerate scenario}" --input "${inputs[@]}" --out "$OUT/report" \
    --skip-secs "${SKIP_SECS:-0}"
  # The rings and spill segments (hundreds of MB per shard) are not needed for the report.
  rm -rf "$OUT"/data/shard-*
}
