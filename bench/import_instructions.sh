#!/usr/bin/env bash
# Instructions per EVTX record, linerate's import (iterate + normalize to ECS JSON, no output
# I/O) beside the `evtx` crate's bare `records()` iteration (XML) of the same file, counted by
# valgrind's callgrind: deterministic for a given binary, whatever else the machine runs, so
# it complements `cargo bench --bench import -- evtx` on a noisy host. Each count is
# (ITER runs) - (0 runs), divided by the records read. "ours" is linerate minus the crate;
# "rate" is crate / linerate, the share of the crate's bare rate the import reaches.
# Usage: bash bench/import_instructions.sh [ITER]
source "$(dirname "$0")/callgrind-lib.sh"
ITER=${1:-2}
callgrind_example import_instructions
echo "| file | crate instr/record | linerate instr/record | ours | rate |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in security.evtx system.evtx; do
  file=tests/data/samples/evtx/$name
  records=$("$BIN" crate "$file" 0)
  c=$(per_item crate "$file" "$ITER" "$records"); l=$(per_item linerate "$file" "$ITER" "$records")
  echo "| $name | $c | $l | $((l - c)) | $(python3 -c "print(f'{$c/$l:.0%}')") |"
done
