#!/usr/bin/env bash
# Instructions per parsed line, linerate's parser beside syslog_loose (Vector's), counted by
# valgrind's callgrind on the same lines (bench/lines.rs) in one run: deterministic for a
# given binary, whatever else the machine runs, so it complements `cargo bench --bench parse`
# on a noisy host. Each count is (ITER runs) - (0 runs), divided by the lines parsed.
# Usage: bash bench/parse_instructions.sh [ITER]
source "$(dirname "$0")/callgrind-lib.sh"
ITER=${1:-20000}
callgrind_example parse_instructions
echo "| format | linerate instr/line | syslog_loose instr/line | ratio |"
echo "| --- | ---: | ---: | ---: |"
for format in rfc5424 rfc3164; do
  lines=$("$BIN" linerate "$format" 0)
  l=$(per_item linerate "$format" "$ITER" "$lines"); s=$(per_item syslog_loose "$format" "$ITER" "$lines")
  echo "| $format | $l | $s | $(python3 -c "print(f'{$s/$l:.1f}x')") |"
done
