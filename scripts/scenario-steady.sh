#!/usr/bin/env bash
# Steady load at 50% of the maximum sustained rate, for the latency target (p99
# receive→ack within twice linger.ms). Measures the maximum first (fast TCP load, delivery
# rate over the second half) unless MAX_RATE is given.
# Usage: scripts/scenario-steady.sh [SECONDS]   (env: MAX_RATE, OUT, CONNECTIONS, SIZE)
source "$(dirname "$0")/scenario-lib.sh"
SECS=${1:-30}
scenario_init steady
MAX=${MAX_RATE:-$(measure_max_rate 20)}
RATE=$((MAX / 2))
echo "maximum sustained rate $MAX/s; steady load at $RATE/s for ${SECS}s" | tee "$OUT/rates.txt"
scenario_start
run_load "steady-$RATE" "$RATE" "$SECS"
TITLE="linerate: steady $RATE/s (50% of $MAX/s) for ${SECS}s" scenario_report "steady-$RATE"
