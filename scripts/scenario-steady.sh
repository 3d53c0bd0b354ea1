#!/usr/bin/env bash
# Steady load at RATE_PERCENT (default 50) of the maximum sustained rate, for the latency
# targets (issue 14: at 20%, receive→ack p99 within 3 × linger_ms and p99.9 within 10 ×). Measures the maximum first (fast TCP load, delivery
# rate over the second half) unless MAX_RATE is given.
# The report leaves out the first WARMUP_SECS (default 5) of the run: connections opening,
# the producers' first batches, the ring's first pages (see `linerate report --skip-secs`);
# the whole run is in $OUT/report-all. Loss is checked without a consumer during the run
# (VERIFY=0, see run_load): sent = received = acknowledged on both topics; VERIFY=1 runs
# loadgen's --verify consumer alongside instead (and reports send→Kafka latency).
# Usage: scripts/scenario-steady.sh [SECONDS]
#   (env: MAX_RATE, RATE_PERCENT, OUT, CONNECTIONS, SIZE, WARMUP_SECS, VERIFY)
source "$(dirname "$0")/scenario-lib.sh"
SECS=${1:-30}
scenario_init steady
MAX=${MAX_RATE:-$(measure_max_rate 20)}
PERCENT=${RATE_PERCENT:-50}
RATE=$((MAX * PERCENT / 100))
echo "maximum sustained rate $MAX/s; steady load at $RATE/s for ${SECS}s" | tee "$OUT/rates.txt"
scenario_start
export VERIFY=${VERIFY:-0}
run_load "steady-$RATE" "$RATE" "$SECS"
[ "$VERIFY" = 0 ] && check_delivered "steady-$RATE"
WARMUP=${WARMUP_SECS:-5}
TITLE="linerate: steady $RATE/s ($PERCENT% of $MAX/s) for ${SECS}s, first ${WARMUP}s left out" \
  SKIP_SECS=$WARMUP scenario_report "steady-$RATE"
"$LR" report --title "linerate: steady $RATE/s ($PERCENT% of $MAX/s), the whole ${SECS}s" \
  --input "$OUT/data" "$OUT/steady-$RATE" --out "$OUT/report-all"
