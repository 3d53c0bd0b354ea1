#!/usr/bin/env bash
# Burst 10x: a base load of 10% of the maximum sustained rate for 30 s, and from second 10 a
# second loader adding 9x that for BURST seconds (10x the base in total).
# Usage: scripts/scenario-burst.sh [BURST_SECONDS]   (env: MAX_RATE, OUT, CONNECTIONS, SIZE)
source "$(dirname "$0")/scenario-lib.sh"
BURST=${1:-3}
scenario_init burst
MAX=${MAX_RATE:-$(measure_max_rate 20)}
BASE=$((MAX / 10))
echo "maximum sustained rate $MAX/s; base $BASE/s, burst $((BASE * 10))/s for ${BURST}s" | tee "$OUT/rates.txt"
scenario_start
run_load base "$BASE" 30 &
base_pid=$!
sleep 10
run_load burst $((BASE * 9)) "$BURST"
wait "$base_pid"
TITLE="linerate: burst 10x ($BASE/s → $((BASE * 10))/s)" scenario_report base burst
