#!/usr/bin/env bash
# Instructions per EVTX record, linerate's import (iterate + normalize to ECS JSON, no output
# I/O) beside the `evtx` crate's bare `records()` iteration (XML) of the same file, counted by
# valgrind's callgrind: deterministic for a given binary, whatever else the machine runs, so
# it complements `cargo bench --bench import -- evtx` on a noisy host. Each count is
# (ITER runs) - (0 runs), divided by the records read. "ours" is linerate minus the crate;
# "rate" is crate / linerate, the share of the crate's bare rate the import reaches.
# Usage: bash bench/import_instructions.sh [ITER]
set -euo pipefail
cd "$(dirname "$0")/.."
ITER=${1:-2}
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
cargo build --locked --release --example import_instructions 2>&1 | tail -1
BIN=${CARGO_TARGET_DIR:-target}/release/examples/import_instructions
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
count() { # reader file iterations
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$BIN" "$1" "$2" "$3" >/dev/null 2>"$tmp/err"
  grep -o 'Collected : [0-9]*' "$tmp/err" | awk '{print $3}'
}
echo "| file | crate instr/record | linerate instr/record | ours | rate |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in security.evtx system.evtx; do
  file=../shared/testdata/evtx/$name
  records=$("$BIN" crate "$file" 0)
  per() { local base full; base=$(count "$1" "$file" 0); full=$(count "$1" "$file" "$ITER"); echo $(( (full - base) / (ITER * records) )); }
  c=$(per crate); l=$(per linerate)
  echo "| $name | $c | $l | $((l - c)) | $(python3 -c "print(f'{$c/$l:.0%}')") |"
done
