#!/usr/bin/env bash
# linerate beside its peers, one run: bench/peers/run.sh (the side-by-side harness: syslog-ng's
# loggen, 256-byte RFC 5424 messages, TCP x4 and UDP x1, medians of 3 rounds) with the raw
# drain, rsyslog and syslog-ng (each to a file and to librdkafka's mock Kafka) and linerate
# twice: its default (logs.raw + logs.normalized) and `raw_enabled = false`. linerate counts a
# message when Kafka acknowledged it. Writes the summary to bench/results/peers-latest.md.
# Needs root the first time (apt-get; see bench/peers/README.md). Knobs: as run.sh's
# (MSGS, ROUNDS, TRANSPORTS, ...). Usage: bash bench/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${LINERATE_BIN:-}" ]; then # LINERATE_BIN=path uses that binary instead (a smoke run)
  cargo build --locked --release --bin linerate 2>&1 | tail -1
  LINERATE_BIN=$PWD/target/release/linerate
fi
export LINERATE_BIN
here=$PWD/bench/peers
export WORK=${WORK:-/tmp/peers-bench}
export OUTDIR=${OUTDIR:-$WORK/results/$(date +%Y%m%d-%H%M%S)}
RECEIVER_NAME="linerate linerate-noraw" \
RECEIVER_CMD="$here/linerate-receiver.sh {NAME} {WORKDIR} {PORT} {RCVBUF}" \
RECEIVER_COUNT="cmd:$here/linerate-count.sh" \
  bash "$here/run.sh"
mkdir -p bench/results
{
  echo "<!-- bash bench/peers.sh, $(date -Is); raw data was in $OUTDIR -->"
  cat "$OUTDIR/summary.md"
} > bench/results/peers-latest.md
echo "wrote bench/results/peers-latest.md" >&2
