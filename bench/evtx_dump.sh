#!/usr/bin/env bash
# EVTX import beside the evtx crate's own command line, in one run (issue 14's restated
# target): `linerate import evtx FILE --stdout` (ECS JSON lines with event.original as
# docs/SCHEMA.md has it) against `evtx_dump -o jsonl FILE` (the same crate version's CLI,
# JSON lines) on the same files, both writing to /dev/null. Whole-process wall time and CPU
# time (user + sys), medians of ROUNDS runs each, alternated; evtx_dump runs as shipped
# (its default thread count) and with -t 1 (one thread, as linerate's import runs).
# Writes bench/results/evtx-dump-latest.md.
# Knobs: ROUNDS (default 5), COPIES (files per run: each sample repeated, default 20),
# LINERATE_BIN (skip the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
COPIES=${COPIES:-20}
EVTX_VERSION=$(sed -n 's/^evtx = { version = "\([0-9.]*\)".*/\1/p' Cargo.toml)
tools=$PWD/target/bench-tools
if [ ! -x "$tools/bin/evtx_dump" ]; then
  cargo install evtx --version "$EVTX_VERSION" --locked --root "$tools" 2>&1 | tail -1
fi
if [ -z "${LINERATE_BIN:-}" ]; then
  cargo build --locked --release --bin linerate 2>&1 | tail -1
  LINERATE_BIN=$PWD/target/release/linerate
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The larger well-formed samples, each repeated COPIES times (one process reads them all).
files=()
for f in security.evtx system.evtx sysmon.evtx; do
  for i in $(seq 1 "$COPIES"); do
    cp "tests/data/samples/evtx/$f" "$work/${f%.evtx}-$i.evtx"
    files+=("$work/${f%.evtx}-$i.evtx")
  done
done
records=$("$LINERATE_BIN" import evtx "${files[@]}" --stdout 2>/dev/null | wc -l)

# One timed run: prints "wall_s cpu_s".
timed() {
  /usr/bin/time -f "%e %U %S" -o "$work/t" "$@" > /dev/null 2>&1
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$work/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A wall cpu
names=(linerate evtx_dump evtx_dump_t1)
for r in $(seq 1 "$ROUNDS"); do
  for n in "${names[@]}"; do
    case $n in
      linerate) out=$(timed "$LINERATE_BIN" import evtx "${files[@]}" --stdout) ;;
      evtx_dump) out=$(timed bash -c 'for f in "$@"; do "'"$tools"'/bin/evtx_dump" -o jsonl "$f"; done' _ "${files[@]}") ;;
      evtx_dump_t1) out=$(timed bash -c 'for f in "$@"; do "'"$tools"'/bin/evtx_dump" -t 1 -o jsonl "$f"; done' _ "${files[@]}") ;;
    esac
    wall[$n]+="${out% *} "
    cpu[$n]+="${out#* } "
  done
done
row() {
  local n=$1 w c
  w=$(tr ' ' '\n' <<< "${wall[$n]}" | grep . | median)
  c=$(tr ' ' '\n' <<< "${cpu[$n]}" | grep . | median)
  awk -v n="$n" -v w="$w" -v c="$c" -v r="$records" \
    'BEGIN {printf "| %s | %.0f | %.2f | %.2f |\n", n, r / w, w, c * 1e6 / r}'
}
mkdir -p bench/results
{
  echo "<!-- bash bench/evtx_dump.sh, $(date -Is), ROUNDS=$ROUNDS COPIES=$COPIES, evtx $EVTX_VERSION -->"
  echo
  echo "$records records (security, system, sysmon samples x $COPIES), output to /dev/null, medians of $ROUNDS rounds:"
  echo
  echo "| command | records/s (wall) | wall s | CPU µs/record |"
  echo "| --- | ---: | ---: | ---: |"
  row linerate
  row evtx_dump
  row evtx_dump_t1
} > bench/results/evtx-dump-latest.md
cat bench/results/evtx-dump-latest.md
