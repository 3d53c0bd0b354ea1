#!/usr/bin/env bash
# Ramp to saturation: 25%, 50%, 75%, 100% and 125% of the maximum sustained rate, STEP
# seconds each, on one appliance run; one loadgen log per step.
# Usage: scripts/scenario-ramp.sh [STEP_SECONDS]   (env: MAX_RATE, OUT, CONNECTIONS, SIZE)
source "$(dirname "$0")/scenario-lib.sh"
STEP=${1:-10}
scenario_init ramp
MAX=${MAX_RATE:-$(measure_max_rate 20)}
echo "maximum sustained rate $MAX/s; ramp 25..125% in ${STEP}s steps" | tee "$OUT/rates.txt"
scenario_start
labels=()
for pct in 25 50 75 100 125; do
  rate=$((MAX * pct / 100))
  run_load "ramp-$pct" "$rate" "$STEP"
  labels+=("ramp-$pct")
done
TITLE="linerate: ramp to saturation (max $MAX/s)" scenario_report "${labels[@]}"
