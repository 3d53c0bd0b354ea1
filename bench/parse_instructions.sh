#!/usr/bin/env bash
# Instructions per parsed line, linerate's parser beside syslog_loose (Vector's), counted by
# valgrind's callgrind on the same lines (bench/lines.rs) in one run: deterministic for a
# given binary, whatever else the machine runs, so it complements `cargo bench --bench parse`
# on a noisy host. Each count is (ITER runs) - (0 runs), divided by the lines parsed.
# Usage: bash bench/parse_instructions.sh [ITER]
set -euo pipefail
cd "$(dirname "$0")/.."
ITER=${1:-20000}
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
cargo build --locked --release --example parse_instructions 2>&1 | tail -1
BIN=${CARGO_TARGET_DIR:-target}/release/examples/parse_instructions
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
count() { # parser format iterations
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$BIN" "$1" "$2" "$3" >/dev/null 2>"$tmp/err"
  grep -o 'Collected : [0-9]*' "$tmp/err" | awk '{print $3}'
}
echo "| format | linerate instr/line | syslog_loose instr/line | ratio |"
echo "| --- | ---: | ---: | ---: |"
for format in rfc5424 rfc3164; do
  lines=$("$BIN" linerate "$format" 0)
  per() { local base full; base=$(count "$1" "$format" 0); full=$(count "$1" "$format" "$ITER"); echo $(( (full - base) / (ITER * lines) )); }
  l=$(per linerate); s=$(per syslog_loose)
  echo "| $format | $l | $s | $(python3 -c "print(f'{$s/$l:.1f}x')") |"
done
